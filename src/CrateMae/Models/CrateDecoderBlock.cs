using CrateMae.Kernels;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace CrateMae.Models;

/// <summary>
/// CRATE decoder layer g^ℓ (spec §3.5), meant to invert encoder layer L+1−ℓ: the order is reversed and the
/// attention step is subtracted (gradient ascent on the coding rate, undoing the compression):
/// Z̃^{ℓ+½} = LN₁(Z̃^ℓ) W̃ᵀ,  Z̃^{ℓ+1} = Z̃^{ℓ+½} − MSSA(LN₂(Z̃^{ℓ+½})).
/// Keys: <c>layers.0.0.{norm,fn}.*</c> (linear map W̃), <c>layers.0.1.{norm,fn}.*</c> (MSSA) — swapped versus the encoder.
/// </summary>
public sealed class CrateDecoderBlock : nn.Module<Tensor, Tensor>, IKernelModule
{
    private readonly ModuleList<ModuleList<nn.Module<Tensor, Tensor>>> layers;

    public CrateDecoderBlock(int dim, int heads) : base(nameof(CrateDecoderBlock))
    {
        layers = nn.ModuleList(nn.ModuleList<nn.Module<Tensor, Tensor>>(
            new PreNorm<LinearMap>(dim, new LinearMap(dim)),
            new PreNorm<SubspaceAttention>(dim, new SubspaceAttention(dim, heads))));
        RegisterComponents();
    }

    /// <summary>Fast kernels or the plain reference ops (<see cref="KernelOptions"/>); set for a whole model through <see cref="MaskedAutoencoder.Kernels"/>.</summary>
    public KernelOptions Kernels { get; set; } = KernelOptions.Default;

    public PreNorm<LinearMap> Map => (PreNorm<LinearMap>)layers[0][0];
    public PreNorm<SubspaceAttention> Attention => (PreNorm<SubspaceAttention>)layers[0][1];

    public override Tensor forward(Tensor z)
    {
        using var mapped = Map.forward(z);                        // Z̃^{ℓ+½}  [B, N, D]
        if (Kernels.Reference)
        {
            using var attendedRef = Attention.forward(mapped);
            return mapped.sub(attendedRef);                       // Z̃^{ℓ+1}  [B, N, D] (out of place: LN₂ saved `mapped`)
        }
        using var normed = LayerNormSimd.Apply(Attention.Norm, mapped, Kernels);
        using var attended = Attention.Fn.ForwardMixed(normed);   // the compute dtype (bf16 inside a bf16 scope)
        return mapped.sub(attended);
    }
}
