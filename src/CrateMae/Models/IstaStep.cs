using static TorchSharp.torch;

namespace CrateMae.Models;

/// <summary>
/// One proximal step of non-negative sparse coding against a complete dictionary W (spec §3.3):
/// ISTA(y) = ReLU(y + η (y − y Wᵀ) W − η λ). The weight is the module parameter <c>weight</c> (D×D).
/// </summary>
/// <remarks>
/// The official code forms η(yW − (yWᵀ)W) with three products; (y − yWᵀ)W needs two and is the same sum up to float
/// rounding (≈1e-7 relative), well inside the 1e-5 parity tolerance. The fast path goes one step further when there
/// are enough token rows: (y − yWᵀ)W = y(W − WᵀW), so one product with the D×D matrix W − WᵀW (formed once per call,
/// D³ work) replaces the two products with the activations, and the residual add rides on the GEMM
/// (<c>addmm(y, y, W − WᵀW, β = 1, α = η)</c>).
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
        var y2 = y.reshape(-1, d);                                               // [R, D] (a view), R = B·N rows
        bool folded = Kernels.Ista switch
        {
            IstaForm.Folded => true,
            IstaForm.TwoProducts => false,
            _ => y2.shape[0] >= FoldRowsPerWidth * d,
        };
        Tensor update;
        if (MatmulPrecision.Current is { } dt)
        {
            var yr = y2.to(dt);
            if (folded)
            {
                var wr = weight.to(dt);
                update = yr.mm(addmm(wr, wr.t(), wr, beta: 1, alpha: -1));       // y (W − WᵀW)        (bf16)
            }
            else
            {
                var wr = weight.to(dt);                                          // cast once, used twice
                var residual = addmm(yr, yr, wr.t(), beta: 1, alpha: -1);       // y − y Wᵀ           (bf16)
                update = residual.mm(wr);                                        // (y − y Wᵀ) W        (bf16)
            }
            // y + η·update in float32 by type promotion, then the threshold and the ReLU in place.
            var z = y2.add(update, alpha: _eta).sub_(_eta * _lambd).relu_();
            return z.view(shape).MoveToOuterDisposeScope();
        }
        Tensor zf;
        if (folded)
        {
            zf = addmm(y2, y2, Folded(), beta: 1, alpha: (float)_eta);             // y + η y (W − WᵀW)
        }
        else
        {
            var r = addmm(y2, y2, weight.t(), beta: 1, alpha: -1);               // y − y Wᵀ
            zf = addmm(y2, r, weight, beta: 1, alpha: (float)_eta);              // y + η (y − y Wᵀ) W
        }
        return zf.sub_(_eta * _lambd).relu_().view(shape).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Rows per unit of width from which the folded form pays: y(W − WᵀW) costs one R×D×D product plus a D×D×D one
    /// for the folded matrix, against two R×D×D products (forward; the backward has the same balance).
    /// </summary>
    internal const int FoldRowsPerWidth = 2;

    /// <summary>W − WᵀW (D×D, float32, differentiable in W): (y − yWᵀ)W = y(W − WᵀW).</summary>
    private Tensor Folded() => addmm(weight, weight.t(), weight, beta: 1, alpha: -1);

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
