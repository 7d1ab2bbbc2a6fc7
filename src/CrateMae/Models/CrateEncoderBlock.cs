using CrateMae.Kernels;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace CrateMae.Models;

/// <summary>
/// CRATE encoder layer f^ℓ (spec §3.4): a compression step then a sparsification step,
/// Z^{ℓ+½} = Z^ℓ + MSSA(LN₁(Z^ℓ)),  Z^{ℓ+1} = ISTA(LN₂(Z^{ℓ+½})).
/// There is no residual around ISTA (its own skip starts from the normalised vector), so outputs are non-negative.
/// Keys: <c>layers.0.0.{norm,fn}.*</c> (MSSA), <c>layers.0.1.{norm,fn}.*</c> (ISTA).
/// </summary>
public sealed class CrateEncoderBlock : nn.Module<Tensor, Tensor>, IAttentionBlock, IKernelModule
{
    private readonly ModuleList<ModuleList<nn.Module<Tensor, Tensor>>> layers;

    public CrateEncoderBlock(int dim, int heads, double eta, double lambd) : base(nameof(CrateEncoderBlock))
    {
        Heads = heads;
        layers = nn.ModuleList(nn.ModuleList<nn.Module<Tensor, Tensor>>(
            new PreNorm<SubspaceAttention>(dim, new SubspaceAttention(dim, heads)),
            new PreNorm<IstaStep>(dim, new IstaStep(dim, eta, lambd))));
        RegisterComponents();
    }

    /// <summary>Fast kernels or the plain reference ops (<see cref="KernelOptions"/>); set for a whole model through <see cref="MaskedAutoencoder.Kernels"/>.</summary>
    public KernelOptions Kernels { get; set; } = KernelOptions.Default;

    public int Heads { get; }
    public PreNorm<SubspaceAttention> Attention => (PreNorm<SubspaceAttention>)layers[0][0];
    public PreNorm<IstaStep> Ista => (PreNorm<IstaStep>)layers[0][1];

    public override Tensor forward(Tensor z)
    {
        if (!Kernels.Reference && !is_grad_enabled()) return ForwardInference(z);
        using var compressed = Compress(z);                        // Z^{ℓ+½}   [B, N, D]
        return Ista.forward(compressed);                          // Z^{ℓ+1}   [B, N, D]
    }

    /// <summary>
    /// The same map without autograd: LN₂ reads Z + MSSA(LN₁(Z)) in one fused pass (the half step has no other reader:
    /// there is no residual around ISTA), so it is never stored (<see cref="LayerNormSimd"/>).
    /// </summary>
    private Tensor ForwardInference(Tensor z)
    {
        using var normed = LayerNormSimd.Apply(Attention.Norm, z, Kernels);        // LN₁(Z)
        using var y = Attention.Fn.ForwardMixed(normed);                           // MSSA(LN₁(Z))
        using var normed2 = LayerNormSimd.Apply(Ista.Norm, z, Kernels, y);          // LN₂(Z + MSSA(LN₁(Z)))
        return Ista.Fn.forward(normed2);                                           // Z^{ℓ+1}   [B, N, D]
    }

    /// <summary>Returns the half-step (after MSSA) and the block output (after ISTA), for white-box measurements.</summary>
    public (Tensor HalfStep, Tensor Output) ForwardSteps(Tensor z)
    {
        var compressed = Compress(z);
        return (compressed, Ista.forward(compressed));
    }

    /// <summary>
    /// Z + MSSA(LN₁(Z)) in the dtype of Z: a float32 stream stays float32 (a bf16 MSSA output is promoted by the
    /// addition), a bf16 stream stays bf16.
    /// </summary>
    private Tensor Compress(Tensor z)
    {
        if (Kernels.Reference) return Attention.forward(z).add_(z);
        using var normed = LayerNormSimd.Apply(Attention.Norm, z, Kernels);
        var y = Attention.Fn.ForwardMixed(normed);
        if (y.dtype == z.dtype && Attention.Fn.HasOutputProjection) return y.add_(z);   // a fresh linear output: in place
        using (y) return z.add(y);
    }

    public Tensor AttentionMap(Tensor x)
    {
        using var normed = Attention.Norm.forward(x);
        return Attention.Fn.AttentionMap(normed);
    }

    public Tensor Projection(Tensor x)
    {
        using var normed = Attention.Norm.forward(x);
        return Attention.Fn.Project(normed);
    }
}
