using static TorchSharp.torch;

namespace CrateMae.Models;

/// <summary>
/// One proximal step of non-negative sparse coding against a complete dictionary W (spec §3.3):
/// ISTA(y) = ReLU(y + η (y − y Wᵀ) W − η λ). The weight is the module parameter <c>weight</c> (D×D).
/// </summary>
/// <remarks>
/// The official code forms η(yW − (yWᵀ)W) with three products; (y − yWᵀ)W needs two and is the same sum up to float
/// rounding (≈1e-7 relative), well inside the 1e-5 parity tolerance.
/// </remarks>
public sealed class IstaStep : nn.Module<Tensor, Tensor>
{
    private readonly TorchSharp.Modules.Parameter weight;
    private readonly double _eta;
    private readonly double _lambd;

    public IstaStep(int dim, double eta, double lambd) : base(nameof(IstaStep))
    {
        _eta = eta;
        _lambd = lambd;
        weight = new TorchSharp.Modules.Parameter(empty(dim, dim));
        RegisterComponents();
    }

    public TorchSharp.Modules.Parameter Weight => weight;

    public override Tensor forward(Tensor y)
    {
        using var scope = NewDisposeScope();
        var residual = y - MatmulPrecision.Linear(y, weight);            // y − y Wᵀ        [B, N, D]
        var update = MatmulPrecision.Matmul(residual, weight);          // (y − y Wᵀ) W     [B, N, D]
        var z = y.add(update, alpha: _eta).sub_(_eta * _lambd);
        return nn.functional.relu(z).MoveToOuterDisposeScope();
    }
}
