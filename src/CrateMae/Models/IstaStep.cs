using CrateMae.Kernels;
using static TorchSharp.torch;

namespace CrateMae.Models;

/// <summary>
/// One proximal step of non-negative sparse coding against a complete dictionary W (spec §3.3):
/// ISTA(y) = ReLU(y + η (y − y Wᵀ) W − η λ). The weight is the module parameter <c>weight</c> (D×D).
/// </summary>
/// <remarks>
/// The official code forms η(yW − (yWᵀ)W) with three products; (y − yWᵀ)W needs two and is the same sum up to float
/// rounding (≈1e-7 relative), well inside the 1e-5 parity tolerance. The fast path goes one step further when there
/// are enough token rows: y + η(y − yWᵀ)W − ηλ = y(I + η(W − WᵀW)) − ηλ, so one product with a D×D matrix (formed once
/// per call, D³ work) replaces the two products with the activations, and the skip connection and the threshold ride
/// on that GEMM (<c>addmm(−ηλ, y, I + η(W − WᵀW))</c>); only the ReLU is a separate (in-place) pass.
/// </remarks>
public sealed class IstaStep : nn.Module<Tensor, Tensor>, IKernelModule
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

    /// <summary>Fast kernels or the plain reference ops (<see cref="KernelOptions"/>); set for a whole model through <see cref="MaskedAutoencoder.Kernels"/>.</summary>
    public KernelOptions Kernels { get; set; } = KernelOptions.Default;

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
        var dt = MatmulPrecision.ComputeType;
        var w = MatmulPrecision.Cast(weight);                                    // W in the compute dtype (cast once)
        Tensor z;
        if (y2.dtype == ScalarType.Float32 && dt == ScalarType.Float32)
        {
            z = folded
                ? addmm(Threshold(d, y.device), y2, StepMatrix(d), beta: 1, alpha: 1)  // y (I + η(W − WᵀW)) − ηλ
                : addmm(y2, addmm(y2, y2, w.t(), beta: 1, alpha: -1), w, beta: 1, alpha: (float)_eta).sub_(_eta * _lambd);
            return z.relu_().view(shape).MoveToOuterDisposeScope();
        }
        if (y2.dtype == dt)
        {
            // A bf16 activation stream: the products and the skip connection in one GEMM each (float32 accumulation,
            // one rounding of the result). The identity is not folded into the matrix here: rounded to bf16, 1 + ηM_jj
            // would lose the update's diagonal (bf16 spacing at 1 is 2⁻⁷).
            z = folded
                ? addmm(y2, y2, addmm(w, w.t(), w, beta: 1, alpha: -1), beta: 1, alpha: (float)_eta)    // y + η y (W − WᵀW)
                : addmm(y2, addmm(y2, y2, w.t(), beta: 1, alpha: -1), w, beta: 1, alpha: (float)_eta);  // y + η (y − yWᵀ) W
            return LayerNormSimd.ShrinkInPlace(z, _eta * _lambd, Kernels).view(shape).MoveToOuterDisposeScope();
        }
        // A float32 input inside a bf16 scope: products in bf16, y + η·update in float32 by type promotion.
        var yr = y2.to(dt);
        var update = folded
            ? yr.mm(addmm(w, w.t(), w, beta: 1, alpha: -1))                      // y (W − WᵀW)
            : addmm(yr, yr, w.t(), beta: 1, alpha: -1).mm(w);                    // (y − y Wᵀ) W
        z = y2.add(update, alpha: _eta);
        return LayerNormSimd.ShrinkInPlace(z, _eta * _lambd, Kernels).view(shape).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Rows per unit of width from which the folded form pays: y(W − WᵀW) costs one R×D×D product plus a D×D×D one
    /// for the folded matrix, against two R×D×D products (forward; the backward has the same balance).
    /// </summary>
    internal const int FoldRowsPerWidth = 2;

    /// <summary>
    /// I + η(W − WᵀW) (D×D, differentiable in W): y + η(y − yWᵀ)W = y(I + η(W − WᵀW)), so the skip connection, the
    /// step and both products become one GEMM over the token rows (and one in each direction of the backward).
    /// </summary>
    private Tensor StepMatrix(long d)
    {
        var identityPlusEtaW = eye(d, dtype: weight.dtype, device: weight.device).add_(weight, alpha: _eta);   // I + ηW
        return addmm(identityPlusEtaW, weight.t(), weight, beta: 1, alpha: (float)-_eta);                          // − ηWᵀW
    }

    /// <summary>The constant −ηλ as a [D] row broadcast over the GEMM's output (the threshold rides on the GEMM too).</summary>
    private Tensor Threshold(long d, Device device) => full([d], -_eta * _lambd, device: device);

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
