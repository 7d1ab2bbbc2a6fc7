using CrateMae.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace CrateMae.Tests.Evaluation;

/// <summary>Tiny random-init autoencoders and synthetic images for the evaluation tests.</summary>
internal static class TinyModels
{
    public static MaeConfig Config(int depth = 1) => new()
    {
        Name = "tiny", ImgSize = 8, PatchSize = 4, InChans = 1, EmbedDim = 16, Depth = depth, NumHeads = 2,
        DecoderEmbedDim = 16, DecoderDepth = 1, DecoderNumHeads = 2,
    };

    public static MaskedAutoencoder Create(int depth = 1, ulong seed = 0) => new(Config(depth), new Generator(seed));

    /// <summary>
    /// Two separable classes of 1×8×8 images: class 0 bright on the left half, class 1 on the right half, plus noise.
    /// Labels alternate 0, 1, 0, 1, ….
    /// </summary>
    public static (Tensor Images, Tensor Labels) HalvesImages(int count, ulong seed, double noise = 0.3)
    {
        using var scope = NewDisposeScope();
        var g = new Generator(seed);
        var labels = arange(count, dtype: int64).remainder(2);
        var left = cat([ones(8, 4), -ones(8, 4)], 1);                       // [8, 8]: +1 left, −1 right
        var pattern = stack([left, left.flip(1)]);                           // [2, 8, 8]
        var images = pattern[labels].unsqueeze(1) + noise * randn(count, 1, 8, 8, generator: g);
        return (images.to(float32).MoveToOuterDisposeScope(), labels.MoveToOuterDisposeScope());
    }
}
