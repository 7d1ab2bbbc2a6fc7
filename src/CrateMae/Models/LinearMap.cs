using static TorchSharp.torch;

namespace CrateMae.Models;

/// <summary>The decoder's learned square map W̃ (paper: D̃ᵀ, a stand-in for the encoder dictionary): x ↦ x W̃ᵀ, no bias. Key <c>weight</c>.</summary>
public sealed class LinearMap : nn.Module<Tensor, Tensor>
{
    private readonly TorchSharp.Modules.Parameter weight;

    public LinearMap(int dim) : base(nameof(LinearMap))
    {
        weight = new TorchSharp.Modules.Parameter(empty(dim, dim));
        RegisterComponents();
    }

    public TorchSharp.Modules.Parameter Weight => weight;

    /// <summary>x·Wᵀ in the stream's dtype: float32 in, float32 out; bf16 (the CRATE stream in a bf16 scope) in, bf16 out.</summary>
    public override Tensor forward(Tensor x) =>
        x.dtype == ScalarType.Float32 ? MatmulPrecision.Linear(x, weight) : MatmulPrecision.LinearKeep(x, weight);
}
