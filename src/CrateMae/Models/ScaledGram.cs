using static TorchSharp.torch;

namespace CrateMae.Models;

/// <summary>
/// α·A Aᵀ for batched A [G, N, d] with a hand-written backward: for G = α A Aᵀ, dA = α (dG + dGᵀ) A, formed as two
/// products that accumulate in the GEMM (β = 1) instead of autograd's two separate gradients (one of them a transposed,
/// strided tensor) and their element-wise sum. Used by the explicit attention of the fast path.
/// </summary>
internal sealed class ScaledGram : autograd.SingleTensorFunction<ScaledGram>
{
    public override string Name => nameof(ScaledGram);

    /// <summary>α·A Aᵀ: [G, N, d] → [G, N, N], differentiable in A.</summary>
    public static Tensor Of(Tensor a, double alpha) => apply(a, alpha);

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var a = (Tensor)vars[0];
        double alpha = (double)vars[1];
        ctx.save_for_backward([a]);
        ctx.save_data("alpha", alpha);
        using var zero = zeros(1, 1, 1, dtype: a.dtype, device: a.device);
        return Kernels.Baddbmm(zero, a, a.transpose(1, 2), 0, (float)alpha);
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad)
    {
        AutogradHandoff.Begin();
        using var a = ctx.get_saved_variables()[0];
        float alpha = (float)(double)ctx.get_data("alpha");
        using (grad)
        {
            using var zero = zeros(1, 1, 1, dtype: grad.dtype, device: grad.device);
            using var first = Kernels.Baddbmm(zero, grad, a, 0, alpha);              // α dG A
            using var gradT = grad.transpose(1, 2);
            // One gradient per input of apply(a, alpha); none for the scalar. (AutogradHandoff: freed early.)
            return [AutogradHandoff.Return(Kernels.Baddbmm(first, gradT, a, 1, alpha)), null!];   // + α dGᵀ A
        }
    }
}
