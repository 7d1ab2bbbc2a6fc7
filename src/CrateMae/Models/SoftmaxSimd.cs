using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using TorchSharp;
using static TorchSharp.torch;
using static CrateMae.Models.SimdTensor;

namespace CrateMae.Models;

/// <summary>
/// Softmax over the last dimension of a contiguous float32 or bf16 CPU tensor, and its backward, as AVX-512 loops over
/// the rows (16 float32 lanes; bf16 is widened on load and rounded to nearest-even on store). Statistics, exponentials
/// and sums are float32 for both dtypes, as in libtorch's kernel.
/// </summary>
/// <remarks>
/// Why: the attention's row softmax over [B·K, N, N] with N = 65 … 197 took as long as the two attention products
/// together in libtorch 2.10 (≈ 1 ms for [384, 65, 65] on this machine's 2 cores; its AVX2 loop reduces every short row
/// horizontally four times). This kernel keeps one row in L1, reads it once, and takes ≈ 0.55 of that time
/// (docs/performance.md §2). The exponential is 2^(x·log₂e) with a degree-6 polynomial on the fractional part and
/// <c>vscalefps</c> for the power of two (relative error ≈ 1e-7, below float32 rounding of the sums).
/// </remarks>
internal static unsafe class SoftmaxSimd
{
    /// <summary>Rows longer than this fall back to libtorch (the row buffer lives on the stack).</summary>
    internal const int MaxRowLength = 4096;

    private const int Lanes = SimdTensor.Lanes;

    /// <summary>Whether <paramref name="t"/> can go through the kernels: contiguous, CPU, float32 or bf16, rows of 1 … 4096.</summary>
    public static bool Supports(Tensor t) => SimdTensor.IsRowTensor(t) && t.shape[^1] <= MaxRowLength;

    /// <summary>softmax(x, −1) into a new tensor of the same dtype.</summary>
    public static Tensor Forward(Tensor x)
    {
        var y = empty_like(x);
        long n = x.shape[^1], rows = x.numel() / n;
        if (x.dtype == ScalarType.Float32) Run(rows, (r0, r1) => ForwardRows((float*)Pointer(x), (float*)Pointer(y), r0, r1, (int)n, rows));
        else Run(rows, (r0, r1) => ForwardRows((ushort*)Pointer(x), (ushort*)Pointer(y), r0, r1, (int)n, rows));
        GC.KeepAlive(x);
        return y;
    }

    /// <summary>The gradient of softmax from its output p and the incoming gradient dy (same shape and dtype, contiguous): p ⊙ (dy − Σ dy ⊙ p).</summary>
    public static Tensor Backward(Tensor p, Tensor dy)
    {
        var dx = empty_like(p);
        long n = p.shape[^1], rows = p.numel() / n;
        if (p.dtype == ScalarType.Float32)
            Run(rows, (r0, r1) => BackwardRows((float*)Pointer(p), (float*)Pointer(dy), (float*)Pointer(dx), r0, r1, (int)n, rows));
        else Run(rows, (r0, r1) => BackwardRows((ushort*)Pointer(p), (ushort*)Pointer(dy), (ushort*)Pointer(dx), r0, r1, (int)n, rows));
        GC.KeepAlive(p);
        GC.KeepAlive(dy);
        return dx;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ForwardRows<T>(T* input, T* output, long start, long end, int n, long rows) where T : unmanaged
    {
        int full = n / Lanes, vecs = (n + Lanes - 1) / Lanes, rem = n - full * Lanes;
        float* buf = stackalloc float[vecs * Lanes];
        float* scratch = stackalloc float[Lanes];
        var negInf = Vector512.Create(float.NegativeInfinity);
        var tailMask = TailMask(rem);
        long total = rows * n;
        for (long r = start; r < end; r++)
        {
            T* src = input + r * n;
            T* dst = output + r * n;
            var mx = negInf;
            for (int v = 0; v < full; v++)
            {
                var x = Load(src + v * Lanes);
                x.Store(buf + v * Lanes);
                mx = Avx512F.Max(mx, x);
            }
            if (rem != 0)
            {
                var x = Vector512.ConditionalSelect(tailMask, LoadTail(src, full * Lanes, n, r * n, total, scratch), negInf);
                x.Store(buf + full * Lanes);
                mx = Avx512F.Max(mx, x);
            }
            var m = Vector512.Create(HorizontalMax(mx));
            var sum = Vector512<float>.Zero;
            for (int v = 0; v < vecs; v++)
            {
                var e = Exp(Vector512.Load(buf + v * Lanes) - m);
                e.Store(buf + v * Lanes);
                sum += e;
            }
            float inv = 1f / Vector512.Sum(sum);
            var vinv = Vector512.Create(inv);
            for (int v = 0; v < full; v++) Store(dst + v * Lanes, Vector512.Load(buf + v * Lanes) * vinv);
            for (int i = full * Lanes; i < n; i++) StoreScalar(dst + i, buf[i] * inv);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void BackwardRows<T>(T* p, T* dy, T* dx, long start, long end, int n, long rows) where T : unmanaged
    {
        int full = n / Lanes, rem = n - full * Lanes;
        float* pBuf = stackalloc float[Lanes];
        float* gBuf = stackalloc float[Lanes];
        var tailMask = TailMask(rem);
        long total = rows * n;
        for (long r = start; r < end; r++)
        {
            T* pr = p + r * n, gr = dy + r * n, xr = dx + r * n;
            var acc = Vector512<float>.Zero;
            for (int v = 0; v < full; v++) acc = Vector512.FusedMultiplyAdd(Load(pr + v * Lanes), Load(gr + v * Lanes), acc);
            if (rem != 0)
            {
                var pt = Vector512.ConditionalSelect(tailMask, LoadTail(pr, full * Lanes, n, r * n, total, pBuf), Vector512<float>.Zero);
                var gt = Vector512.ConditionalSelect(tailMask, LoadTail(gr, full * Lanes, n, r * n, total, gBuf), Vector512<float>.Zero);
                acc = Vector512.FusedMultiplyAdd(pt, gt, acc);
            }
            float s = Vector512.Sum(acc);
            var vs = Vector512.Create(s);
            for (int v = 0; v < full; v++) Store(xr + v * Lanes, Load(pr + v * Lanes) * (Load(gr + v * Lanes) - vs));
            for (int i = full * Lanes; i < n; i++) StoreScalar(xr + i, ToFloat(pr[i]) * (ToFloat(gr[i]) - s));
        }
    }

    /// <summary>
    /// The last, partial vector of a row starting at element <paramref name="offset"/>: one full-width load when the
    /// 16 elements stay inside the tensor (the lanes past the row are masked by the caller), else element by element.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> LoadTail<T>(T* row, int offset, int n, long rowStart, long total, float* scratch) where T : unmanaged
    {
        if (rowStart + offset + Lanes <= total) return Load(row + offset);
        for (int i = 0; i < Lanes; i++) scratch[i] = offset + i < n ? ToFloat(row[offset + i]) : 0f;
        return Vector512.Load(scratch);
    }

    /// <summary>Lanes 0 … <paramref name="rem"/> − 1 set: the valid part of a row's partial last vector.</summary>
    internal static Vector512<float> TailMask(int rem) =>
        Vector512.LessThan(Vector512.Create(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), Vector512.Create(rem)).AsSingle();

    /// <summary>e^x for x ≤ 0 (the row minus its maximum); NaN stays NaN (it is the second operand of <c>vmaxps</c>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> Exp(Vector512<float> x)
    {
        var t = Avx512F.Max(Vector512.Create(-87.0f), x) * Vector512.Create(1.44269504088896341f);   // x·log₂e
        var k = Avx512F.RoundScale(t, 0);                                                             // nearest integer
        var f = t - k;                                                                                // [−½, ½]
        var p = Vector512.Create(1.5403530393381609e-4f);                                             // 2^f, Taylor to f⁶
        p = Vector512.FusedMultiplyAdd(p, f, Vector512.Create(1.3333558146428443e-3f));
        p = Vector512.FusedMultiplyAdd(p, f, Vector512.Create(9.6181291076284772e-3f));
        p = Vector512.FusedMultiplyAdd(p, f, Vector512.Create(5.5504108664821580e-2f));
        p = Vector512.FusedMultiplyAdd(p, f, Vector512.Create(2.4022650695910071e-1f));
        p = Vector512.FusedMultiplyAdd(p, f, Vector512.Create(6.9314718055994531e-1f));
        p = Vector512.FusedMultiplyAdd(p, f, Vector512.Create(1.0f));
        return Avx512F.Scale(p, k);                                                                   // · 2^k
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float HorizontalMax(Vector512<float> v)
    {
        var a = Avx.Max(v.GetLower(), v.GetUpper());
        var b = Sse.Max(a.GetLower(), a.GetUpper());
        b = Sse.Max(b, Sse.Shuffle(b, b, 0b01_00_11_10));
        b = Sse.Max(b, Sse.Shuffle(b, b, 0b10_11_00_01));
        return b.ToScalar();
    }
}
