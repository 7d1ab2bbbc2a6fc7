using System.Runtime.InteropServices;
using CrateMae.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace CrateMae.Training;

/// <summary>
/// Direct call into libtorch's multi-tensor AdamW kernel, <c>at::_ops::_fused_adamw_::call</c> (the op behind PyTorch's
/// <c>AdamW(fused=True)</c>), which TorchSharp 0.107 does not bind. One vectorised pass per tensor reads parameter,
/// gradient and both moments once, instead of about eight separate element-wise ops.
/// </summary>
/// <remarks>
/// <para>The op is resolved by its mangled C++ name in the already loaded <c>libtorch_cpu.so</c> and called with the
/// x86-64 System V ABI: each <c>c10::ArrayRef&lt;at::Tensor&gt;</c> is a (pointer, length) pair over an array of
/// <c>at::Tensor</c>, i.e. of <c>TensorImpl*</c> (TorchSharp's tensor handle points at an <c>at::Tensor</c>, so one
/// dereference yields it); the two <c>const std::optional&lt;at::Tensor&gt;&amp;</c> arguments point at a disengaged
/// optional (16 zero bytes). The tensors are borrowed for the duration of the call, as ArrayRef does in C++.</para>
/// <para>Why not TorchScript (<c>torch.jit.compile</c> + <c>invoke</c>): TorchSharp 0.107 frees its argument arrays with a
/// scalar <c>delete</c> of a <c>new[]</c> block; under an allocator that honours sized deallocation (jemalloc, which
/// <c>CRATE_MAE_ALLOCATOR=jemalloc</c> selects) that corrupts the heap.</para>
/// <para>Only used with libtorch 2.10 (<see cref="LibtorchExport"/>: the signature and argument layout above are that
/// release's), on Linux x64, where the symbol exists, and for contiguous float32 tensors of the same shape as their
/// parameter; <see cref="Available"/> is false otherwise and <see cref="AdamW"/> runs its per-op form (the same update;
/// the results differ by float rounding). The op must not throw (a C++ exception cannot cross into .NET), so every
/// precondition it checks is checked here first.</para>
/// </remarks>
internal static unsafe class FusedAdamWKernel
{
    private const string Symbol =
        "_ZN2at4_ops13_fused_adamw_4callEN3c108ArrayRefINS_6TensorEEES5_S5_S5_S5_S5_dddddbbRKSt8optionalIS4_ES9_";

    [StructLayout(LayoutKind.Sequential)]
    private struct ArrayRef
    {
        public IntPtr Data;
        public nint Length;
    }

    /// <summary>Zeroed bytes (16 used): a disengaged <c>std::optional&lt;at::Tensor&gt;</c>, never freed.</summary>
    private static readonly IntPtr NullOptional = AllocZeroed(32);

    private static readonly delegate* unmanaged[Cdecl]<ArrayRef, ArrayRef, ArrayRef, ArrayRef, ArrayRef, ArrayRef,
        double, double, double, double, double, byte, byte, IntPtr, IntPtr, void> Fn =
        (delegate* unmanaged[Cdecl]<ArrayRef, ArrayRef, ArrayRef, ArrayRef, ArrayRef, ArrayRef,
            double, double, double, double, double, byte, byte, IntPtr, IntPtr, void>)LibtorchExport.Find(Symbol, LibtorchExport.LoadedVersion);

    private static IntPtr AllocZeroed(int bytes)
    {
        var p = Marshal.AllocHGlobal(bytes);
        new Span<byte>((void*)p, bytes).Clear();
        return p;
    }

    /// <summary>Whether the fused op can be called in this process (libtorch 2.10 on Linux x64, symbol found).</summary>
    public static bool Available => Fn != null;

    /// <summary>
    /// Whether the fused op may be called when libtorch reports <paramref name="libtorchVersion"/> (the lookup
    /// <see cref="Available"/> made for this process's own version): false for another release.
    /// </summary>
    public static bool AvailableFor(string? libtorchVersion) => LibtorchExport.Find(Symbol, libtorchVersion) != IntPtr.Zero;

    /// <summary>Whether a parameter and its state can go through the fused op.</summary>
    public static bool Supports(Tensor p, Tensor grad, Tensor m, Tensor v) =>
        p.dtype == ScalarType.Float32 && grad.dtype == ScalarType.Float32 && m.dtype == ScalarType.Float32 && v.dtype == ScalarType.Float32
        && p.device_type == grad.device_type && p.device_type == m.device_type && p.device_type == v.device_type
        && p.device_type == DeviceType.CPU
        && p.is_contiguous() && grad.is_contiguous() && m.is_contiguous() && v.is_contiguous()
        && p.shape.SequenceEqual(grad.shape) && p.shape.SequenceEqual(m.shape) && p.shape.SequenceEqual(v.shape);

    /// <summary>
    /// In place: p ← p(1 − lr·wd); m ← lerp(m, g, 1 − β1); v ← β2·v + (1 − β2)·g²; p ← p − lr/bc1 · m / (√v/√bc2 + ε), with
    /// bc_i = 1 − β_i^step and step read from <paramref name="steps"/> (one float32 scalar per parameter, already incremented).
    /// </summary>
    public static void Step(IReadOnlyList<Tensor> ps, IReadOnlyList<Tensor> gs, IReadOnlyList<Tensor> ms, IReadOnlyList<Tensor> vs,
        IReadOnlyList<Tensor> steps, double lr, double beta1, double beta2, double weightDecay, double eps)
    {
        if (Fn == null) throw new InvalidOperationException("the fused AdamW op is not available");
        int n = ps.Count;
        if (gs.Count != n || ms.Count != n || vs.Count != n || steps.Count != n)
            throw new ArgumentException("fused AdamW: the tensor lists differ in length");
        if (n == 0) return;
        var impls = new IntPtr[5 * n];
        for (int i = 0; i < n; i++)
        {
            if (!Supports(ps[i], gs[i], ms[i], vs[i]))
                throw new ArgumentException("fused AdamW: parameter, gradient and moments must be contiguous float32 CPU tensors of one shape");
            if (steps[i].numel() != 1 || steps[i].dtype != ScalarType.Float32 || steps[i].device_type != DeviceType.CPU)
                throw new ArgumentException("fused AdamW: each step count must be a float32 CPU scalar");
            impls[i] = Impl(ps[i]);
            impls[n + i] = Impl(gs[i]);
            impls[2 * n + i] = Impl(ms[i]);
            impls[3 * n + i] = Impl(vs[i]);
            impls[4 * n + i] = Impl(steps[i]);
        }
        fixed (IntPtr* a = impls)
        {
            var p = new ArrayRef { Data = (IntPtr)a, Length = n };
            var g = new ArrayRef { Data = (IntPtr)(a + n), Length = n };
            var m = new ArrayRef { Data = (IntPtr)(a + 2 * n), Length = n };
            var v = new ArrayRef { Data = (IntPtr)(a + 3 * n), Length = n };
            var empty = new ArrayRef { Data = IntPtr.Zero, Length = 0 };
            var t = new ArrayRef { Data = (IntPtr)(a + 4 * n), Length = n };
            Fn(p, g, m, v, empty, t, lr, beta1, beta2, weightDecay, eps, 0 /* amsgrad */, 0 /* maximize */, NullOptional, NullOptional);
        }
        GC.KeepAlive(ps);
        GC.KeepAlive(gs);
        GC.KeepAlive(ms);
        GC.KeepAlive(vs);
        GC.KeepAlive(steps);
    }

    /// <summary>The <c>TensorImpl*</c> of a TorchSharp tensor (its handle points at an <c>at::Tensor</c>).</summary>
    private static IntPtr Impl(Tensor t)
    {
        var handle = t.Handle;
        if (handle == IntPtr.Zero) throw new ObjectDisposedException(nameof(Tensor));
        var impl = *(IntPtr*)handle;
        if (impl == IntPtr.Zero) throw new ArgumentException("undefined tensor");
        return impl;
    }
}
