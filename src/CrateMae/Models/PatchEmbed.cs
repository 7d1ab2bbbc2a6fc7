using CrateMae.Kernels;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace CrateMae.Models;

/// <summary>Non-overlapping p×p patches → D-dim tokens by a stride-p convolution (spec §2.2). Key: <c>patch_embed.proj.*</c>.</summary>
/// <remarks>
/// The fast path computes the same map as one GEMM over the unfolded patches (token t = W_pe · vec(patch_t) + b_pe,
/// the weight flattened in its own (c, r, s) order), because libtorch's convolution is a poor GEMM at this shape: at
/// 224 px in bf16 its weight gradient ran at 56 GFLOP/s and took 2.2 % of a crate-small training step
/// (docs/performance.md §2). The convolution stays as the reference form.
/// </remarks>
public sealed class PatchEmbed : nn.Module<Tensor, Tensor>, IKernelModule
{
    private readonly Conv2d proj;
    private readonly int _patch;

    public PatchEmbed(int patchSize, int inChans, int embedDim) : base(nameof(PatchEmbed))
    {
        _patch = patchSize;
        proj = nn.Conv2d(inChans, embedDim, kernel_size: patchSize, stride: patchSize);
        RegisterComponents();
    }

    /// <summary>Fast kernels or the plain reference ops (<see cref="KernelOptions"/>); set for a whole model through <see cref="MaskedAutoencoder.Kernels"/>.</summary>
    public KernelOptions Kernels { get; set; } = KernelOptions.Default;

    /// <summary>The convolution weight (D, C, p, p) and bias (D).</summary>
    public Parameter Weight => proj.weight!;
    public Parameter Bias => proj.bias!;

    /// <summary>[B, C, H, W] → [B, (H/p)·(W/p), D], tokens in row-major grid order.</summary>
    public override Tensor forward(Tensor imgs)
    {
        if (imgs.shape[2] % _patch != 0 || imgs.shape[3] % _patch != 0)
            throw new ArgumentException($"image size {imgs.shape[2]}×{imgs.shape[3]} is not divisible by the patch size {_patch}");
        return Kernels.Reference || Kernels.ConvPatchEmbed ? ForwardConv(imgs) : ForwardGemm(imgs);
    }

    /// <summary>One product of the unfolded patches [B, L, C·p·p] with the flattened weight [D, C·p·p]ᵀ; float32 out.</summary>
    private Tensor ForwardGemm(Tensor imgs)
    {
        var (b, c, gh, gw) = (imgs.shape[0], imgs.shape[1], imgs.shape[2] / _patch, imgs.shape[3] / _patch);
        using var src = MatmulPrecision.Cast(imgs);                          // bf16 before the unfold: half the bytes to move
        using var patches = src.reshape(b, c, gh, _patch, gw, _patch)
            .permute(0, 2, 4, 1, 3, 5)                                        // [B, g_h, g_w, C, p, p]
            .reshape(b, gh * gw, c * _patch * _patch);                        // [B, L, C·p·p] (one copy)
        using var weight = proj.weight!.view(proj.weight.shape[0], -1);       // [D, C·p·p]
        using var y = MatmulPrecision.LinearKeep(patches, weight, proj.bias); // [B, L, D]
        return MatmulPrecision.ToFloat32(y);
    }

    private Tensor ForwardConv(Tensor imgs)
    {
        using var y = MatmulPrecision.Current is { } dt
            ? nn.functional.conv2d(imgs.to(dt), proj.weight!.to(dt), proj.bias!.to(dt), strides: [_patch, _patch]).to(ScalarType.Float32)
            : proj.forward(imgs);                         // [B, D, g_h, g_w]
        return y.flatten(2).transpose(1, 2);               // [B, L, D]
    }
}
