using System.Runtime.Intrinsics;
using TorchSharp;
using static TorchSharp.torch;

namespace CrateMae.Kernels;

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
/// Which implementation the model's hot modules run, fixed per model (<c>MaskedAutoencoder.Kernels</c>, pushed to its
/// blocks) and immutable. <see cref="Default"/> is chosen once per process: the fast path with our C# vector kernels
/// (row softmax, LayerNorm, the ISTA threshold, the fused fp32 attention) at the widest vector width the CPU
/// accelerates (<c>Vector512</c> on AVX-512, <c>Vector256</c> on AVX2, <c>Vector128</c> on SSE and ARM64 NEON), capped
/// by the environment variable <c>CRATE_MAE_SIMD</c>: <c>0</c> (no C# kernels: libtorch's ops), <c>128</c>, <c>256</c>
/// or <c>512</c> (the widest width allowed). <see cref="Reference"/> selects the plain official-form ops instead, the test
/// oracle: the fast paths must equal it within 1e-5 (relative to the largest magnitude) on the golden fixtures. The
/// remaining properties force one variant of a fast-path choice (tests and in-process A/B runs).
/// </summary>
public sealed record KernelOptions
{
    /// <summary>The environment variable that caps the vector width of <see cref="Default"/>.</summary>
    public const string SimdVariable = "CRATE_MAE_SIMD";

    private static KernelOptions? _default;

    /// <summary>The process's options: the fast path at the widest accelerated width <c>CRATE_MAE_SIMD</c> allows.</summary>
    public static KernelOptions Default => _default ??= new KernelOptions { SimdBits = WidthFromEnvironment() };

    /// <summary>The plain official-form ops (the test oracle).</summary>
    public static KernelOptions ReferenceOps => Default with { Reference = true };

    /// <summary>
    /// The widest vector width in bits our kernels may use: 0 (off: libtorch's ops), 128, 256 or 512. A width the CPU
    /// does not accelerate runs at the widest one below it that it does (<see cref="VectorBits"/>).
    /// </summary>
    public int SimdBits
    {
        get;
        init => field = value is 0 or 128 or 256 or 512
            ? value
            : throw new ArgumentOutOfRangeException(nameof(SimdBits), value, "vector width: expected 0, 128, 256 or 512");
    } = 512;

    /// <summary>The plain official-form ops everywhere (every other property is then ignored).</summary>
    public bool Reference { get; init; }

    /// <summary>The attention form of the fast path (<see cref="AttentionKernel.Auto"/>: the measured rule of <see cref="ResolveAttention"/>).</summary>
    public AttentionKernel Attention { get; init; }

    /// <summary>The ISTA form of the fast path.</summary>
    public IstaForm Ista { get; init; }

    /// <summary>
    /// The CRATE decoder on autocast's float32 stream (products still in bf16) instead of the bf16 stream in a bf16
    /// scope: the autocast-style variant (a float32 stream between the decoder's bf16 products), for A/B runs and tests.
    /// </summary>
    public bool Float32DecoderStream { get; init; }

    /// <summary>Patches embedded by libtorch's strided convolution (the reference form) instead of one GEMM over the unfolded patches (A/B runs and tests).</summary>
    public bool ConvPatchEmbed { get; init; }

    /// <summary>The vector widths this CPU accelerates, widest first (empty where none is).</summary>
    public static IReadOnlyList<int> AcceleratedWidths { get; } = Accelerated();

    private static int[] Accelerated()
    {
        var widths = new List<int>(3);
        if (Vector512.IsHardwareAccelerated) widths.Add(512);
        if (Vector256.IsHardwareAccelerated) widths.Add(256);
        if (Vector128.IsHardwareAccelerated) widths.Add(128);
        return [.. widths];
    }

    /// <summary>The width the kernels run at: the widest accelerated one not above <see cref="SimdBits"/>; 0 on the reference path or when none is.</summary>
    public int VectorBits => Reference ? 0 : AcceleratedWidths.FirstOrDefault(w => w <= SimdBits);

    /// <summary>Whether our C# vector kernels run (else libtorch's ops).</summary>
    public bool Simd => VectorBits != 0;

    /// <summary>The width <c>CRATE_MAE_SIMD</c> allows (512, i.e. the widest the CPU has, when unset).</summary>
    internal static int WidthFromEnvironment(string? value = null)
    {
        value ??= Environment.GetEnvironmentVariable(SimdVariable);
        if (string.IsNullOrWhiteSpace(value)) return 512;
        return value.Trim() switch
        {
            "0" => 0,
            "128" => 128,
            "256" => 256,
            "512" => 512,
            _ => throw new ArgumentException($"{SimdVariable}={value}: expected 0 (off), 128, 256 or 512 (the widest vector width of the C# kernels)"),
        };
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
    public AttentionKernel ResolveAttention(ScalarType dtype, bool grad, bool tiedQkv = true, long tokens = 0,
        DeviceType device = DeviceType.CPU, long headWidth = 0)
    {
        if (Attention != AttentionKernel.Auto) return Attention;
        if (device != DeviceType.CPU) return AttentionKernel.Sdpa;
        // fp32 MSSA: our per-head kernel keeps no N × N tensor, and its speed against libtorch's CPU flash kernel depends
        // on the vector width (in-process A/B, docs/performance.md §2). At 16 lanes (AVX-512) it is faster with and
        // without autograd (224-px training steps 8–13 %, feature extraction 2–7 %) and matches or beats the explicit
        // form at N = 50–65. At 8 lanes (AVX2; against libtorch's AVX2 kernels) it trains faster (attention forward and
        // backward 1.7–2.2× as fast at N = 65 and 197) while the flash kernel's forward alone stays ahead, so it is chosen with
        // autograd only. At 4 lanes it trains faster only on short sequences (N = 65: 1.6× as fast; N = 197: 0.85×).
        if (dtype == ScalarType.Float32 && tiedQkv && Simd && FusedAttentionF32.SupportsShape(tokens, headWidth, VectorBits)
            && (VectorBits >= 512 || (grad && (VectorBits >= 256 || tokens <= MaxExplicitFloat32Tokens))))
            return AttentionKernel.Fused;
        // Otherwise, with our row softmax the explicit form trains faster than libtorch's CPU flash kernel in fp32 too
        // (+5 % at N = 65, +3 % at N = 50, +2.3 % at N = 197: no zero-filled gradient buffers and no sum of three q/k/v
        // gradients), while the flash kernel stays the better fp32 forward without autograd (+5.6 % at N = 197, equal at
        // N = 65). In bf16 libtorch's flash backward is 3–5× slower than the explicit form, and the explicit forward is
        // faster too (N = 65: +13 %). Longer fp32 sequences keep the flash kernel, whose memory grows as N rather than N²
        // (MaxExplicitFloat32Tokens).
        if (dtype != ScalarType.BFloat16)
            return tiedQkv && grad && Simd && tokens <= MaxExplicitFloat32Tokens ? AttentionKernel.Explicit : AttentionKernel.Sdpa;
        return grad || Simd ? AttentionKernel.Explicit : AttentionKernel.Sdpa;
    }
}
