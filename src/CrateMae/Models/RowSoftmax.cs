using static TorchSharp.torch;

namespace CrateMae.Models;

/// <summary>
/// softmax(x, −1) for the attention scores of the explicit attention path: the AVX-512 kernels of
/// <see cref="SoftmaxSimd"/> forward and backward when the tensor qualifies, libtorch's softmax otherwise.
/// </summary>
internal sealed class RowSoftmax : autograd.SingleTensorFunction<RowSoftmax>
{
    public override string Name => nameof(RowSoftmax);

    /// <summary>softmax over the last dimension, differentiable; same dtype as <paramref name="scores"/>.</summary>
    public static Tensor Of(Tensor scores)
    {
        if (!SoftmaxSimd.Supports(scores)) return scores.softmax(-1);
        return is_grad_enabled() && scores.requires_grad ? apply(scores) : SoftmaxSimd.Forward(scores);
    }

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var p = SoftmaxSimd.Forward((Tensor)vars[0]);
        ctx.save_for_backward([p]);
        return p;
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad)
    {
        AutogradHandoff.Begin();
        using var p = ctx.get_saved_variables()[0];
        using (grad)
        using (var g = grad.dtype == p.dtype ? grad.contiguous() : grad.to(p.dtype).contiguous())
        {
            if (SoftmaxSimd.Supports(g)) return [AutogradHandoff.Return(SoftmaxSimd.Backward(p, g))];
            using var gp = g * p;
            using var s = gp.sum(-1, keepdim: true);
            using var centred = g - s;
            return [AutogradHandoff.Return(p * centred)];
        }
    }
}
