using CrateMae.Kernels;
using System.Reflection;
using TorchSharp;
using static TorchSharp.torch;

namespace CrateMae.Models;

/// <summary>
/// <c>self ← self + α·(batch1 · batch2)</c> in place, through libtorch's <c>baddbmm_</c> op, which TorchSharp 0.107 does
/// not bind: the GEMM reads <c>self</c> as its addend (oneDNN's sum post-op in bf16, β = 1 in BLAS), so a gradient made
/// of several products accumulates without the copy that the out-of-place <c>baddbmm</c> makes of its input first, and
/// without an element-wise sum of separate products.
/// </summary>
/// <remarks>
/// The op, <c>at::_ops::baddbmm_::call(Tensor&amp;, const Tensor&amp;, const Tensor&amp;, const Scalar&amp;, const Scalar&amp;)</c>,
/// is resolved by its mangled name in the loaded <c>libtorch_cpu.so</c> and called with the System V ABI, as
/// <c>FusedAdamWKernel</c> calls <c>_fused_adamw_</c>: a TorchSharp tensor handle points at an <c>at::Tensor</c> and a
/// TorchSharp <see cref="Scalar"/> handle (internal, read by reflection) at a <c>c10::Scalar</c>. A C++ exception
/// cannot cross into .NET, so every condition the op checks is checked here first. Where the symbol is missing the
/// out-of-place product is copied back.
/// </remarks>
internal static unsafe class InPlaceBaddbmm
{
    private const string Symbol = "_ZN2at4_ops8baddbmm_4callERNS_6TensorERKS2_S5_RKN3c106ScalarES9_";

    private static readonly Scalar One = 1.0.ToScalar();

    /// <summary>TorchSharp keeps a <see cref="Scalar"/>'s <c>c10::Scalar*</c> in an internal property; read it once by reflection.</summary>
    private static readonly Func<Scalar, IntPtr>? ScalarHandle =
        typeof(Scalar).GetProperty("Handle", BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public)?.GetGetMethod(nonPublic: true)
            ?.CreateDelegate<Func<Scalar, IntPtr>>();

    // Initialised after ScalarHandle (static fields initialise in textual order).
    private static readonly delegate* unmanaged[Cdecl]<IntPtr, IntPtr, IntPtr, IntPtr, IntPtr, IntPtr> Fn = Resolve();

    private static delegate* unmanaged[Cdecl]<IntPtr, IntPtr, IntPtr, IntPtr, IntPtr, IntPtr> Resolve()
    {
        if (Environment.GetEnvironmentVariable("CRATE_MAE_NO_INPLACE_BADDBMM") == "1" || ScalarHandle is null) return null;
        return (delegate* unmanaged[Cdecl]<IntPtr, IntPtr, IntPtr, IntPtr, IntPtr, IntPtr>)LibtorchExport.Find(Symbol);
    }

    /// <summary>Whether libtorch's in-place op was found (else <see cref="Accumulate"/> copies an out-of-place result back).</summary>
    public static bool Available => Fn != null;

    /// <summary>
    /// <paramref name="self"/> [G, M, N] += <paramref name="alpha"/>·<paramref name="batch1"/> [G, M, K] · <paramref name="batch2"/> [G, K, N],
    /// in place. All three share dtype and device; <paramref name="self"/> is contiguous, not a view of either operand and
    /// not part of an autograd graph (call it from a backward or under <c>no_grad</c>).
    /// </summary>
    public static void Accumulate(Tensor self, Tensor batch1, Tensor batch2, double alpha)
    {
        Check(self, batch1, batch2);
        if (Fn == null)
        {
            using var sum = Products.Baddbmm(self, batch1, batch2, 1, (float)alpha);
            self.copy_(sum);
            return;
        }
        using var a = alpha.ToScalar();
        Fn(self.Handle, batch1.Handle, batch2.Handle, ScalarHandle!(One), ScalarHandle!(a));
        GC.KeepAlive(self);
        GC.KeepAlive(batch1);
        GC.KeepAlive(batch2);
    }

    private static void Check(Tensor self, Tensor b1, Tensor b2)
    {
        if (self.dim() != 3 || b1.dim() != 3 || b2.dim() != 3)
            throw new ArgumentException($"in-place baddbmm: expected 3-D tensors, got [{Shape(self)}], [{Shape(b1)}], [{Shape(b2)}]");
        long g = self.shape[0], m = self.shape[1], n = self.shape[2], k = b1.shape[2];
        if (b1.shape[0] != g || b2.shape[0] != g || b1.shape[1] != m || b2.shape[1] != k || b2.shape[2] != n)
            throw new ArgumentException($"in-place baddbmm: [{Shape(self)}] += [{Shape(b1)}]·[{Shape(b2)}] does not match");
        if (b1.dtype != self.dtype || b2.dtype != self.dtype)
            throw new ArgumentException($"in-place baddbmm: dtypes {self.dtype}, {b1.dtype}, {b2.dtype} differ");
        if (b1.device_type != self.device_type || b2.device_type != self.device_type || b1.device_index != self.device_index || b2.device_index != self.device_index)
            throw new ArgumentException("in-place baddbmm: the tensors are on different devices");
        if (!self.is_contiguous())
            throw new ArgumentException("in-place baddbmm: the accumulator must be contiguous");
        if (self.requires_grad && is_grad_enabled())
            throw new ArgumentException("in-place baddbmm: the accumulator is part of an autograd graph");
        if (Overlaps(self, b1) || Overlaps(self, b2))
            throw new ArgumentException("in-place baddbmm: the accumulator shares memory with an operand");
    }

    private static bool Overlaps(Tensor a, Tensor b)
    {
        if (a.device_type != DeviceType.CPU) return false;   // only CPU data pointers are compared; libtorch checks the rest
        long a0 = (long)SimdTensor.Pointer(a), a1 = a0 + a.numel() * a.ElementSize;
        long b0 = (long)SimdTensor.Pointer(b), b1 = b0 + Span(b) * b.ElementSize;
        return a0 < b1 && b0 < a1;
    }

    /// <summary>Elements from the first to one past the last element a strided tensor reaches.</summary>
    private static long Span(Tensor t)
    {
        long span = 1;
        for (int i = 0; i < t.dim(); i++) span += (t.shape[i] - 1) * Math.Abs(t.stride(i));
        return span;
    }

    private static string Shape(Tensor t) => string.Join(", ", t.shape);
}
