using TorchSharp;
using static TorchSharp.torch;

namespace CrateMae.Models;

/// <summary>How the multi-head subspace attention forms softmax(A Aᵀ/√d_h) A on the fast path.</summary>
public enum AttentionKernel
{
    /// <summary>Measured choice (docs/performance.md): our per-head kernel for fp32 MSSA, explicit products for bf16, libtorch's SDPA otherwise.</summary>
    Auto,

    /// <summary>Batched products around a row softmax, with one contiguous copy of the heads.</summary>
    Explicit,

    /// <summary><c>scaled_dot_product_attention(A, A, A)</c> (libtorch's fused CPU flash kernel; its default scale 1/√d_h is ours).</summary>
    Sdpa,

    /// <summary>Our float32 per-head kernel (<see cref="FusedAttentionF32"/>): products, softmax and gradients one head at a time in the cache.</summary>
    Fused,
}

/// <summary>How the fast ISTA step forms (y − yWᵀ)W.</summary>
public enum IstaForm
{
    /// <summary>Folded when there are at least 2·D token rows (where it saves work), else two products.</summary>
    Auto,

    /// <summary>Always y(W − WᵀW): one product with the activations plus a D×D×D one.</summary>
    Folded,

    /// <summary>Always two products with the activations, the residual carried by <c>addmm</c>.</summary>
    TwoProducts,
}

/// <summary>
/// Switches between the fast implementations of the hot modules and the plain, official-form reference ops.
/// The reference path is the test oracle: the fast paths must equal it within 1e-5 (relative to the largest magnitude)
/// on the golden fixtures.
/// </summary>
public static class Kernels
{
    [ThreadStatic] private static bool _reference;

    /// <summary>True inside <see cref="UseReference"/> on this thread: modules run the plain official-form ops.</summary>
    public static bool Reference => _reference;

    /// <summary>Runs the plain reference ops on this thread until disposed.</summary>
    public static IDisposable UseReference(bool reference = true) => Switch(reference, () => _reference, v => _reference = v);

    [ThreadStatic] private static AttentionKernel _attention;
    [ThreadStatic] private static IstaForm _ista;

    /// <summary>The attention kernel of the fast path on this thread (default <see cref="AttentionKernel.Auto"/>).</summary>
    public static AttentionKernel Attention => _attention;

    /// <summary>The ISTA form of the fast path on this thread (default <see cref="IstaForm.Auto"/>).</summary>
    public static IstaForm Ista => _ista;

    /// <summary>Forces fast-path variants on this thread until disposed (benchmarks and tests).</summary>
    public static IDisposable Use(AttentionKernel attention = AttentionKernel.Auto, IstaForm ista = IstaForm.Auto) =>
        Switch((attention, ista), () => (_attention, _ista), v => (_attention, _ista) = v);

    [ThreadStatic] private static bool _libtorchKernels;

    /// <summary>False inside <see cref="UseLibtorchKernels"/>: our AVX-512 kernels (softmax, LayerNorm, threshold) step aside for libtorch's ops.</summary>
    public static bool SimdKernels => !_libtorchKernels;

    /// <summary>
    /// Runs libtorch's ops instead of our AVX-512 kernels on this thread until disposed (in-process A/B runs, tests);
    /// <c>CRATE_MAE_SIMD=0</c> does the same for the whole process.
    /// </summary>
    public static IDisposable UseLibtorchKernels(bool libtorch = true) =>
        Switch(libtorch, () => _libtorchKernels, v => _libtorchKernels = v);

    [ThreadStatic] private static bool _float32DecoderStream;

    /// <summary>True inside <see cref="UseFloat32DecoderStream"/>: the CRATE decoder runs on a float32 stream in a bf16 scope.</summary>
    public static bool Float32DecoderStream => _float32DecoderStream;

    /// <summary>
    /// Runs the CRATE decoder on autocast's float32 stream (products still in bf16) instead of the bf16 stream on this
    /// thread until disposed: the variant before the bf16 decoder stream, for in-process A/B runs and tests.
    /// </summary>
    public static IDisposable UseFloat32DecoderStream(bool float32 = true) =>
        Switch(float32, () => _float32DecoderStream, v => _float32DecoderStream = v);

    [ThreadStatic] private static bool _convPatchEmbed;

    /// <summary>True inside <see cref="UseConvPatchEmbed"/>: the fast path embeds patches with the strided convolution.</summary>
    public static bool ConvPatchEmbed => _convPatchEmbed;

    /// <summary>
    /// Embeds patches with libtorch's strided convolution (the reference form) instead of one GEMM over the unfolded
    /// patches on this thread until disposed: for in-process A/B runs and tests.
    /// </summary>
    public static IDisposable UseConvPatchEmbed(bool conv = true) =>
        Switch(conv, () => _convPatchEmbed, v => _convPatchEmbed = v);

    /// <summary>Sets thread-static switches to <paramref name="value"/> until the result is disposed.</summary>
    private static IDisposable Switch<T>(T value, Func<T> get, Action<T> set)
    {
        var previous = get();
        set(value);
        return new Restore(() => set(previous));
    }

    /// <summary>
    /// Longest sequence for which fp32 training takes the explicit attention when <see cref="FusedAttentionF32"/> does not
    /// apply (a head width that is not a whole number of vectors). At N = 197 (224 px, patch 16) it was only 2.3 % faster
    /// than the flash kernel and kept 400 MB more for the backward (crate-small, batch 8: RSS 1,631 MB against 1,229 MB):
    /// the float32 [B·K, N, N] probabilities of every block, which the flash kernel recomputes instead.
    /// </summary>
    internal const long MaxExplicitFloat32Tokens = 128;

    /// <summary>
    /// The attention kernel for a computation in <paramref name="dtype"/>, with or without autograd, over
    /// <paramref name="tokens"/> tokens and heads of width <paramref name="headWidth"/> (0: unknown). <paramref name="tiedQkv"/>:
    /// MSSA, where one projection is query, key and value (the explicit form is <see cref="ExplicitAttention"/>);
    /// false for the ViT baseline's separate q, k, v (its explicit form is the plain one). Off the CPU (CUDA) the fused
    /// kernel is always chosen: the measurements below are CPU ones, and our row kernels run only on the CPU.
    /// </summary>
    internal static AttentionKernel ResolveAttention(ScalarType dtype, bool grad, bool tiedQkv = true, long tokens = 0,
        DeviceType device = DeviceType.CPU, long headWidth = 0)
    {
        if (Attention != AttentionKernel.Auto) return Attention;
        if (device != DeviceType.CPU) return AttentionKernel.Sdpa;
        // Measured (docs/performance.md §2, in-process A/B, one step of each in turn). fp32 MSSA: our per-head kernel
        // beats libtorch's CPU flash kernel with and without autograd (eleventh session: 224-px training steps 8–13 %
        // faster, feature extraction 2–7 %), matches or beats the explicit form at N = 50–65 (−1 % to +5 % over several
        // runs), and keeps no N × N tensor.
        if (dtype == ScalarType.Float32 && tiedQkv && SimdTensor.Enabled && FusedAttentionF32.SupportsShape(tokens, headWidth))
            return AttentionKernel.Fused;
        // Otherwise, with the AVX-512 row softmax the explicit form trains faster than libtorch's CPU flash kernel in fp32
        // too (+5 % at N = 65, +3 % at N = 50, +2.3 % at N = 197: no zero-filled gradient buffers and no sum of three
        // q/k/v gradients), while the flash kernel stays the better fp32 forward without autograd (+5.6 % at N = 197,
        // equal at N = 65). In bf16 libtorch's flash backward is 3–5× slower than the explicit form, and the explicit
        // forward is faster too (N = 65: +13 %). Longer fp32 sequences keep the flash kernel, whose memory grows as N
        // rather than N² (MaxExplicitFloat32Tokens).
        if (dtype != ScalarType.BFloat16)
            return tiedQkv && grad && SimdTensor.Enabled && tokens <= MaxExplicitFloat32Tokens ? AttentionKernel.Explicit : AttentionKernel.Sdpa;
        return grad || SimdTensor.Enabled ? AttentionKernel.Explicit : AttentionKernel.Sdpa;
    }

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

    private sealed class Restore(Action undo) : IDisposable
    {
        public void Dispose() => undo();
    }
}
