using static TorchSharp.torch;

namespace CrateMae.Kernels;

/// <summary>
/// softmax(x, −1) and its gradient for the attention scores of the explicit attention path: the vector kernels of
/// <see cref="SoftmaxSimd"/> at <c>bits</c> (a <see cref="KernelOptions.VectorBits"/>) when the tensors qualify,
/// libtorch's ops otherwise (and at 0). Not differentiable by itself: <see cref="ExplicitAttention"/> calls both from
/// its forward and backward.
/// </summary>
internal static class RowSoftmax
{
    /// <summary>softmax over the last dimension, same dtype as <paramref name="scores"/>.</summary>
    public static Tensor Forward(Tensor scores, int bits) =>
        SoftmaxSimd.Supports(scores, bits) ? SoftmaxSimd.Forward(scores, bits) : scores.softmax(-1);

    /// <summary>
    /// The gradient of the softmax from its output <paramref name="p"/> and the incoming gradient: p ⊙ (dy − Σ dy ⊙ p),
    /// in p's dtype, computed in float32 and rounded once (as the vector kernel and libtorch's softmax backward do).
    /// </summary>
    public static Tensor Backward(Tensor p, Tensor dy, int bits)
    {
        using var g = dy.dtype == p.dtype ? dy.contiguous() : dy.to(p.dtype).contiguous();
        if (SoftmaxSimd.Supports(g, bits) && SoftmaxSimd.Supports(p, bits)) return SoftmaxSimd.Backward(p, g, bits);
        using var g32 = g.to(ScalarType.Float32);
        using var p32 = p.to(ScalarType.Float32);
        using var gp = g32 * p32;
        using var s = gp.sum(-1, keepdim: true);
        using var centred = g32 - s;
        using var dx = p32 * centred;
        return dx.to(p.dtype);
    }
}
