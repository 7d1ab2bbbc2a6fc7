using System.Runtime.CompilerServices;
using TorchSharp;
using static TorchSharp.torch;
using static CrateMae.Kernels.SimdTensor;

namespace CrateMae.Kernels;

/// <summary>
/// Softmax over the last dimension of a contiguous float32 or bf16 CPU tensor, and its backward, as vector loops over
/// the rows at any width (<see cref="IVec{TSelf}"/>; bf16 is widened on load and rounded to nearest-even on store).
/// Statistics, exponentials and sums are float32 for both dtypes, as in libtorch's kernel.
/// </summary>
/// <remarks>
/// Why: the attention's row softmax over [B·K, N, N] with N = 65 … 197 took as long as the two attention products
/// together in libtorch 2.10 (≈ 1 ms for [384, 65, 65] on two AVX-512 cores; its loop reduces every short row
/// horizontally four times). This kernel keeps one row in L1, reads it once, and takes ≈ 0.55 of that time
/// (docs/performance.md §2). The exponential is <see cref="Vec.Exp{TVec}"/> (relative error ≈ 1e-7, below float32
/// rounding of the sums).
/// </remarks>
internal static unsafe class SoftmaxSimd
{
    /// <summary>Rows longer than this fall back to libtorch (the row buffer lives on the stack).</summary>
    internal const int MaxRowLength = 4096;

    /// <summary>Whether <paramref name="t"/> can go through the kernels at <paramref name="bits"/>: contiguous, CPU, float32 or bf16, rows of 1 … 4096.</summary>
    public static bool Supports(Tensor t, int bits) => IsRowTensor(t, bits) && t.shape[^1] <= MaxRowLength;

    /// <summary>softmax(x, −1) into a new tensor of the same dtype.</summary>
    public static Tensor Forward(Tensor x, int bits) => bits switch
    {
        512 => Forward<V512>(x),
        256 => Forward<V256>(x),
        _ => Forward<V128>(x),
    };

    /// <summary>The gradient of softmax from its output p and the incoming gradient dy (same shape and dtype, contiguous): p ⊙ (dy − Σ dy ⊙ p).</summary>
    public static Tensor Backward(Tensor p, Tensor dy, int bits) => bits switch
    {
        512 => Backward<V512>(p, dy),
        256 => Backward<V256>(p, dy),
        _ => Backward<V128>(p, dy),
    };

    private static Tensor Forward<TVec>(Tensor x) where TVec : struct, IVec<TVec>
    {
        var y = empty_like(x);
        long n = x.shape[^1], rows = x.numel() / n;
        if (x.dtype == ScalarType.Float32) Run(rows, (r0, r1) => ForwardRows<float, TVec>((float*)Pointer(x), (float*)Pointer(y), r0, r1, (int)n, rows));
        else Run(rows, (r0, r1) => ForwardRows<ushort, TVec>((ushort*)Pointer(x), (ushort*)Pointer(y), r0, r1, (int)n, rows));
        GC.KeepAlive(x);
        return y;
    }

    private static Tensor Backward<TVec>(Tensor p, Tensor dy) where TVec : struct, IVec<TVec>
    {
        var dx = empty_like(p);
        long n = p.shape[^1], rows = p.numel() / n;
        if (p.dtype == ScalarType.Float32)
            Run(rows, (r0, r1) => BackwardRows<float, TVec>((float*)Pointer(p), (float*)Pointer(dy), (float*)Pointer(dx), r0, r1, (int)n, rows));
        else Run(rows, (r0, r1) => BackwardRows<ushort, TVec>((ushort*)Pointer(p), (ushort*)Pointer(dy), (ushort*)Pointer(dx), r0, r1, (int)n, rows));
        GC.KeepAlive(p);
        GC.KeepAlive(dy);
        return dx;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ForwardRows<T, TVec>(T* input, T* output, long start, long end, int n, long rows)
        where T : unmanaged where TVec : struct, IVec<TVec>
    {
        int lanes = TVec.Lanes;
        int full = n / lanes, vecs = (n + lanes - 1) / lanes, rem = n - full * lanes;
        float* buf = stackalloc float[vecs * lanes];
        float* scratch = stackalloc float[lanes];
        var negInf = TVec.Create(float.NegativeInfinity);
        var tailMask = Vec.TailMask<TVec>(rem);
        long total = rows * n;
        for (long r = start; r < end; r++)
        {
            T* src = input + r * n;
            T* dst = output + r * n;
            var mx = negInf;
            for (int v = 0; v < full; v++)
            {
                var x = Vec.Load<T, TVec>(src + v * lanes);
                TVec.Store(x, buf + v * lanes);
                mx = TVec.Max(mx, x);
            }
            if (rem != 0)
            {
                var x = TVec.Select(tailMask, LoadTail<T, TVec>(src, full * lanes, n, r * n, total, scratch), negInf);
                TVec.Store(x, buf + full * lanes);
                mx = TVec.Max(mx, x);
            }
            var m = TVec.Create(TVec.HorizontalMax(mx));
            var sum = TVec.Zero;
            for (int v = 0; v < vecs; v++)
            {
                var e = Vec.Exp(TVec.Load(buf + v * lanes) - m);
                TVec.Store(e, buf + v * lanes);
                sum += e;
            }
            float inv = 1f / TVec.Sum(sum);
            var vinv = TVec.Create(inv);
            for (int v = 0; v < full; v++) Vec.Store(dst + v * lanes, TVec.Load(buf + v * lanes) * vinv);
            for (int i = full * lanes; i < n; i++) StoreScalar(dst + i, buf[i] * inv);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void BackwardRows<T, TVec>(T* p, T* dy, T* dx, long start, long end, int n, long rows)
        where T : unmanaged where TVec : struct, IVec<TVec>
    {
        int lanes = TVec.Lanes;
        int full = n / lanes, rem = n - full * lanes;
        float* pBuf = stackalloc float[lanes];
        float* gBuf = stackalloc float[lanes];
        var tailMask = Vec.TailMask<TVec>(rem);
        long total = rows * n;
        for (long r = start; r < end; r++)
        {
            T* pr = p + r * n, gr = dy + r * n, xr = dx + r * n;
            var acc = TVec.Zero;
            for (int v = 0; v < full; v++) acc = TVec.Fma(Vec.Load<T, TVec>(pr + v * lanes), Vec.Load<T, TVec>(gr + v * lanes), acc);
            if (rem != 0)
            {
                var pt = TVec.Select(tailMask, LoadTail<T, TVec>(pr, full * lanes, n, r * n, total, pBuf), TVec.Zero);
                var gt = TVec.Select(tailMask, LoadTail<T, TVec>(gr, full * lanes, n, r * n, total, gBuf), TVec.Zero);
                acc = TVec.Fma(pt, gt, acc);
            }
            float s = TVec.Sum(acc);
            var vs = TVec.Create(s);
            for (int v = 0; v < full; v++) Vec.Store(xr + v * lanes, Vec.Load<T, TVec>(pr + v * lanes) * (Vec.Load<T, TVec>(gr + v * lanes) - vs));
            for (int i = full * lanes; i < n; i++) StoreScalar(xr + i, ToFloat(pr[i]) * (ToFloat(gr[i]) - s));
        }
    }

    /// <summary>
    /// The last, partial vector of a row starting at element <paramref name="offset"/>: one full-width load when the
    /// vector stays inside the tensor (the lanes past the row are masked by the caller), else element by element.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TVec LoadTail<T, TVec>(T* row, int offset, int n, long rowStart, long total, float* scratch)
        where T : unmanaged where TVec : struct, IVec<TVec>
    {
        int lanes = TVec.Lanes;
        if (rowStart + offset + lanes <= total) return Vec.Load<T, TVec>(row + offset);
        for (int i = 0; i < lanes; i++) scratch[i] = offset + i < n ? ToFloat(row[offset + i]) : 0f;
        return TVec.Load(scratch);
    }
}
