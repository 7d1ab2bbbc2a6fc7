using CrateMae.Models;
using CrateMae.Tests.Support;
using static TorchSharp.torch;

namespace CrateMae.Tests.Models;

/// <summary>Runs alone: it checks the process-wide libtorch generator, which parallel tests would also draw from.</summary>
[CollectionDefinition(nameof(GlobalRngCollection), DisableParallelization = true)]
public sealed class GlobalRngCollection;

[Collection(nameof(GlobalRngCollection))]
public sealed class SeededInitTests
{
    private static readonly MaeConfig Tiny = new()
    {
        Name = "tiny", ImgSize = 16, PatchSize = 4, InChans = 3, EmbedDim = 32, Depth = 2, NumHeads = 4,
        DecoderEmbedDim = 32, DecoderDepth = 1, DecoderNumHeads = 2,
    };

    [Fact]
    public void Given_the_same_generator_seed_When_building_twice_Then_identical_weights_and_the_global_stream_is_untouched()
    {
        random.manual_seed(1);
        var expectedNext = rand(3);
        random.manual_seed(1);
        using var a = new MaskedAutoencoder(Tiny, new Generator(42));
        var next = rand(3);
        using var b = new MaskedAutoencoder(Tiny, new Generator(42));
        using var c = new MaskedAutoencoder(Tiny, new Generator(43));
        TensorAssert.Exact(next, expectedNext, "global RNG stream after building a seeded model");
        foreach (var ((k, x), (_, y)) in a.OrderedStateDict().Zip(b.OrderedStateDict()))
            TensorAssert.Exact(x, y, k);
        Assert.False(a.state_dict()["cls_token"].eq(c.state_dict()["cls_token"]).all().item<bool>());
    }

}
