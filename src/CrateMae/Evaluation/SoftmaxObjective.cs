using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace CrateMae.Evaluation;

/// <summary>
/// Exact full-batch multinomial logistic loss, f(W, b) = (1/n)·Σᵢ CE(xᵢW + b, yᵢ) + (λ/2)·tr(WᵀPW), and its analytic
/// gradient, in float64 on the CPU. Parameters are packed as θ = [W (D×C, row-major), b (C)]. P is the identity
/// (plain L2) unless a penalty matrix is given: a preconditioned problem in whitened coordinates W = T W′ keeps the
/// original penalty ‖T W′‖² with P = TᵀT (<see cref="LinearProbe"/>).
/// </summary>
/// <remarks>
/// The features are kept transposed, Xᵀ [D, n] contiguous, and logits are formed class-major [C, n]: both products
/// (Wᵀ·Xᵀ and Xᵀ·Rᵀ) then read contiguous operands, which is several times faster in float64 on the CPU than
/// X·W and X.t()·R with a strided transpose.
/// </remarks>
internal sealed class SoftmaxObjective : IDisposable
{
    private readonly Tensor _xt;         // [D, n] float64, standardised, contiguous
    private readonly Tensor _y;          // [1, n] int64
    private readonly Tensor _minusOnes;  // [1, n] float64
    private readonly Tensor? _penalty;   // [D, D] float64, symmetric positive definite; null = identity

    /// <param name="x">Standardised features [n, D] float64 on the CPU (copied, transposed).</param>
    /// <param name="y">Labels [n] int64 in [0, C).</param>
    /// <param name="lambda">Initial L2 strength λ (see <see cref="Lambda"/>).</param>
    /// <param name="penalty">P of the penalty (λ/2)·tr(WᵀPW) [D, D]; null for the identity.</param>
    public SoftmaxObjective(Tensor x, Tensor y, int numClasses, double lambda, Tensor? penalty = null)
    {
        _penalty = penalty?.to(float64).contiguous().DetachFromDisposeScope();
        _xt = x.t().contiguous().DetachFromDisposeScope();
        _y = y.view(1, -1).contiguous().DetachFromDisposeScope();
        _minusOnes = full(1, y.shape[0], -1.0, dtype: float64).DetachFromDisposeScope();
        NumClasses = numClasses;
        FeatureDim = (int)x.shape[1];
        Count = x.shape[0];
        Lambda = lambda;
    }

    /// <summary>The L2 strength λ; may be changed between minimisations (the data stay).</summary>
    public double Lambda { get; set; }

    public int NumClasses { get; }
    public int FeatureDim { get; }
    public long Count { get; }
    public int ParameterCount => (FeatureDim + 1) * NumClasses;

    public double Evaluate(ReadOnlySpan<double> theta, Span<double> gradient)
    {
        using var scope = NewDisposeScope();
        int d = FeatureDim, c = NumClasses;
        double n = Count;
        var p = tensor(theta.ToArray(), dtype: float64);
        var w = p[..(d * c)].view(d, c);                                         // [D, C]
        var b = p[(d * c)..].view(c, 1);                                         // [C, 1]
        var logits = w.t().contiguous().mm(_xt).add_(b);                         // [C, n]
        var lse = logits.logsumexp(0, keepdim: true);                            // [1, n]
        double loss = (lse.sum().item<double>() - logits.gather(0, _y).sum().item<double>()) / n;
        var pw = _penalty is null ? w : _penalty.mm(w);                          // P·W, [D, C]
        double wNormSq = w.mul(pw).sum().item<double>();
        var residual = logits.sub_(lse).exp_().scatter_add_(0, _y, _minusOnes); // softmax − onehot, [C, n]
        var gw = _xt.mm(residual.t().contiguous()).div_(n).add_(pw, alpha: Lambda);  // [D, C]
        var gb = residual.sum(dim: 1).div_(n);                                   // [C]
        var g = cat([gw.flatten(), gb], 0).contiguous();
        MemoryMarshal.Cast<byte, double>(g.bytes).CopyTo(gradient);
        return loss + 0.5 * Lambda * wNormSq;
    }

    public void Dispose()
    {
        _xt.Dispose();
        _y.Dispose();
        _minusOnes.Dispose();
        _penalty?.Dispose();
    }
}
