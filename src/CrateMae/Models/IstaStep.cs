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
        if (Kernels.Reference) return ForwardReference(y);
        using var scope = NewDisposeScope();
        var shape = y.shape;
        long d = shape[^1];
        var y2 = y.reshape(-1, d);                                               // [B·N, D] (a view)
        Tensor update;
        if (MatmulPrecision.Current is { } dt)
        {
            var yr = y2.to(dt);
            var wr = weight.to(dt);                                              // cast once, used twice
            var residual = addmm(yr, yr, wr.t(), beta: 1, alpha: -1);           // y − y Wᵀ   (bf16)
            update = residual.mm(wr);                                            // (y − y Wᵀ) W (bf16)
            // y + η·update in float32 by type promotion, then the threshold and the ReLU in place.
            var z = y2.add(update, alpha: _eta).sub_(_eta * _lambd).relu_();
            return z.view(shape).MoveToOuterDisposeScope();
        }
        var r = addmm(y2, y2, weight.t(), beta: 1, alpha: -1);                   // y − y Wᵀ
        var zf = addmm(y2, r, weight, beta: 1, alpha: (float)_eta);              // y + η (y − y Wᵀ) W
        return zf.sub_(_eta * _lambd).relu_().view(shape).MoveToOuterDisposeScope();
    }

    /// <summary>The plain computation (test oracle).</summary>
    private Tensor ForwardReference(Tensor y)
    {
        using var scope = NewDisposeScope();
        var residual = y - MatmulPrecision.Linear(y, weight);            // y − y Wᵀ        [B, N, D]
        var update = MatmulPrecision.Matmul(residual, weight);          // (y − y Wᵀ) W     [B, N, D]
        var z = y.add(update, alpha: _eta).sub_(_eta * _lambd);
        return nn.functional.relu(z).MoveToOuterDisposeScope();
    }
}
