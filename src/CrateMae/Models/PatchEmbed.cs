using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace CrateMae.Models;

/// <summary>Non-overlapping p×p patches → D-dim tokens by a stride-p convolution (spec §2.2). Key: <c>patch_embed.proj.*</c>.</summary>
public sealed class PatchEmbed : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d proj;
    private readonly int _patch;

    public PatchEmbed(int patchSize, int inChans, int embedDim) : base(nameof(PatchEmbed))
    {
        _patch = patchSize;
        proj = nn.Conv2d(inChans, embedDim, kernel_size: patchSize, stride: patchSize);
        RegisterComponents();
    }

    /// <summary>The convolution weight (D, C, p, p) and bias (D).</summary>
    public Parameter Weight => proj.weight!;
    public Parameter Bias => proj.bias!;

    /// <summary>[B, C, H, W] → [B, (H/p)·(W/p), D], tokens in row-major grid order.</summary>
    public override Tensor forward(Tensor imgs)
    {
        if (imgs.shape[2] % _patch != 0 || imgs.shape[3] % _patch != 0)
            throw new ArgumentException($"image size {imgs.shape[2]}×{imgs.shape[3]} is not divisible by the patch size {_patch}");
        using var y = MatmulPrecision.Current is { } dt
            ? nn.functional.conv2d(imgs.to(dt), proj.weight!.to(dt), proj.bias!.to(dt), strides: [_patch, _patch]).to(ScalarType.Float32)
            : proj.forward(imgs);                         // [B, D, g_h, g_w]
        return y.flatten(2).transpose(1, 2);               // [B, L, D]
    }
}
