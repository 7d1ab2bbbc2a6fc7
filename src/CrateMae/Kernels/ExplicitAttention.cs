using CrateMae.Models;
using static TorchSharp.torch;

namespace CrateMae.Kernels;

/// <summary>
/// The explicit MSSA attention core softmax(α A Aᵀ) A for batched heads A [G, N, d] (G = B·K, α = 1/√d_h), as one
/// autograd function with a hand-written backward. Forward: the Gram product with α inside the GEMM, the row softmax
/// (<see cref="RowSoftmax"/>), the value product. Backward, for P = softmax(S), S = α A Aᵀ and output gradient dO:
/// dP = dO Aᵀ, dS = P ⊙ (dP − Σ dP ⊙ P), and dA = Pᵀ dO + α dS A + α dSᵀ A, each product added by the GEMM itself
/// (<c>baddbmm</c> with β = 1). Autograd over the separate ops would have summed two gradients of A (the Gram's and
/// the value product's) element-wise. The row softmax runs at the vector width <c>bits</c> (0: libtorch's).
/// </summary>
internal sealed class ExplicitAttention : autograd.SingleTensorFunction<ExplicitAttention>
{
    public override string Name => nameof(ExplicitAttention);

    /// <summary>softmax(α A Aᵀ) A: [G, N, d] → [G, N, d] (same dtype), differentiable in A.</summary>
    public static Tensor Of(Tensor a, double alpha, int bits)
    {
        if (is_grad_enabled() && a.requires_grad) return apply(a, alpha, bits);
        var (p, mixed) = Compute(a, alpha, bits);
        p.Dispose();
        return mixed;
    }

    /// <summary>The probabilities P [G, N, N] and the output P A [G, N, d].</summary>
    private static (Tensor P, Tensor Mixed) Compute(Tensor a, double alpha, int bits)
    {
        using var zero = zeros(1, 1, 1, dtype: a.dtype, device: a.device);
        using var scores = Products.Baddbmm(zero, a, a.transpose(1, 2), 0, (float)alpha);    // α A Aᵀ  [G, N, N]
        var p = RowSoftmax.Forward(scores, bits);
        return (p, p.bmm(a));
    }

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var a = (Tensor)vars[0];
        double alpha = (double)vars[1];
        int bits = (int)vars[2];
        var (p, mixed) = Compute(a, alpha, bits);
        // TorchSharp turns the saved tensors into autograd's saved variables after forward returns, so P's wrapper must
        // live until then: it stays in the caller's dispose scope (SubspaceAttention's, closed once apply has returned).
        ctx.save_for_backward([a, p]);
        ctx.save_data("alpha", alpha);
        ctx.save_data("bits", bits);
        return mixed;
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad)
    {
        AutogradHandoff.Begin();
        var saved = ctx.get_saved_variables();
        using var a = saved[0];
        using var p = saved[1];
        double alpha = (double)ctx.get_data("alpha");
        int bits = (int)ctx.get_data("bits");
        using (grad)
        {
            using var dp = grad.bmm(a.transpose(1, 2));              // dO Aᵀ          [G, N, N]
            using var ds = RowSoftmax.Backward(p, dp, bits);                        // dS             [G, N, N]
            using var pdo = p.transpose(1, 2).bmm(grad);                            // Pᵀ dO          [G, N, d]
            using var partial = Products.Baddbmm(pdo, ds, a, 1, (float)alpha);      // + α dS A
            using var dsT = ds.transpose(1, 2);
            var da = Products.Baddbmm(partial, dsT, a, 1, (float)alpha);            // + α dSᵀ A
            // One gradient per input of apply(a, alpha, bits); none for the scalars. (AutogradHandoff: freed early.)
            return [AutogradHandoff.Return(da), null!, null!];
        }
    }
}
