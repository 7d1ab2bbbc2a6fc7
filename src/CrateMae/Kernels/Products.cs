using static TorchSharp.torch;

namespace CrateMae.Kernels;

/// <summary>Batched products whose TorchSharp binding needs care.</summary>
public static class Products
{
    /// <summary>
    /// <c>beta·input + alpha·(batch1 · batch2)</c>. TorchSharp 0.107 passes the operands of <c>baddbmm</c> to libtorch in a
    /// rotated order (its <c>Tensor.baddbmm(b1, b2)</c> computes <c>b2.baddbmm(this, b1)</c> in PyTorch terms); the
    /// convention is probed once so that a fixed TorchSharp keeps working.
    /// </summary>
    public static Tensor Baddbmm(Tensor input, Tensor batch1, Tensor batch2, float beta, float alpha) =>
        BaddbmmRotated.Value ? batch1.baddbmm(batch2, input, beta, alpha) : input.baddbmm(batch1, batch2, beta, alpha);

    private static readonly Lazy<bool> BaddbmmRotated = new(() =>
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var input = zeros(1, 1, 1);
        var b1 = ones(1, 1, 2);
        var b2 = full(2, 3, 2.0f).reshape(1, 2, 3);
        try
        {
            var direct = input.baddbmm(b1, b2, 0, 1);
            if (direct.shape.SequenceEqual(new long[] { 1, 1, 3 }) && direct[0, 0, 0].item<float>() == 4.0f) return false;
        }
        catch (System.Runtime.InteropServices.ExternalException) { }
        return true;
    });
}
