using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using static TorchSharp.torch;
using static CrateMae.Models.SimdTensor;

namespace CrateMae.Models;

/// <summary>
/// MSSA's attention core softmax(α A Aᵀ) A in float32, one head at a time in the cache, in C# AVX-512: for each head the
/// scores, probabilities and gradients live in per-thread buffers of N × N floats (155 KB at N = 197), never in a
/// [G, N, N] tensor, and the backward recomputes the probabilities from A and two per-row statistics (as a flash kernel
/// does), so a training step keeps O(N) per head, not O(N²).
/// </summary>
/// <remarks>
/// Why: in fp32 training at 224 px (N = 197, d_h = 48) libtorch's CPU flash kernel spent about 28 % of a crate-small
/// step in small MKL products (64-row query blocks, ≈ 125 GFLOP/s on two cores; MKL_VERBOSE), and the explicit form
/// kept 360 MB of probabilities at batch 8. Here the products are register-blocked FMA kernels (6 × 64 and 8 × 48 output tiles), and
/// the backward exploits that the scores are symmetric (one set of queries, keys and values): the gradient of A is
/// Pᵀ·dO + α(dS + dSᵀ)·A, one product fewer than dS·A and dSᵀ·A separately. The probabilities are recomputed with the
/// forward's own arithmetic (same products, same exponential, the saved row maximum and 1/sum), so they are the
/// forward's bit for bit. The heads are read in place from A [B, N, K·d] and the output is written merged, so there is
/// no copy of the heads either way. Used for fp32 MSSA, with and without autograd, for head widths that are whole
/// vectors (16, 32, 48, 64, …) on AVX-512 CPUs (<see cref="Kernels.ResolveAttention"/>); elsewhere the previous kernels run.
/// </remarks>
internal sealed unsafe class FusedAttentionF32 : autograd.SingleTensorFunction<FusedAttentionF32>
{
    public override string Name => nameof(FusedAttentionF32);

    /// <summary>
    /// Whether the kernel takes A [B, N, K·d] with <paramref name="heads"/> heads: contiguous float32 CPU, d a multiple of
    /// 16, N ≤ 2,048.
    /// </summary>
    public static bool Supports(Tensor a, long heads) =>
        IsRowTensor(a) && a.dtype == ScalarType.Float32 && a.dim() == 3 && heads > 0 && a.shape[2] % heads == 0
        && SupportsShape(a.shape[1], a.shape[2] / heads);

    /// <summary>Whether N tokens and head width d suit the kernel (d a whole number of vectors; the N × N buffers bounded).</summary>
    public static bool SupportsShape(long n, long d) => d % Lanes == 0 && d is > 0 and <= 256 && n is > 0 and <= 2048;

    /// <summary>
    /// softmax(α A_k A_kᵀ) A_k for every head k of A [B, N, K·d], read in place (no copy of the heads), written
    /// head-interleaved: [B, N, K·d] → [B, N, K·d], differentiable in A.
    /// </summary>
    public static Tensor Of(Tensor a, long heads, double alpha)
    {
        if (is_grad_enabled() && a.requires_grad) return apply(a, heads, alpha);
        var (o, rowMax, rowInv) = Forward(a, (int)heads, (float)alpha);
        rowMax.Dispose();
        rowInv.Dispose();
        return o;
    }

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var (a, heads, alpha) = ((Tensor)vars[0], (long)vars[1], (double)vars[2]);
        var (o, rowMax, rowInv) = Forward(a, (int)heads, (float)alpha);
        ctx.save_for_backward([a, rowMax, rowInv]);
        ctx.save_data("heads", heads);
        ctx.save_data("alpha", alpha);
        return o;
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad)
    {
        AutogradHandoff.Begin();
        var saved = ctx.get_saved_variables();
        using var a = saved[0];
        using var rowMax = saved[1];
        using var rowInv = saved[2];
        var (heads, alpha) = ((long)ctx.get_data("heads"), (double)ctx.get_data("alpha"));
        using (grad)
        {
            using var dO = grad.contiguous();
            // One gradient per input of apply(a, heads, alpha); none for the two scalars. (AutogradHandoff: freed early.)
            return [AutogradHandoff.Return(Backward(a, dO, rowMax, rowInv, (int)heads, (float)alpha)), null!, null!];
        }
    }

    /// <summary>
    /// The output [B, N, K·d] and, per head and row, the maximum of the scaled scores and 1 / Σ exp (float32 [B·K, N]).
    /// </summary>
    internal static (Tensor O, Tensor RowMax, Tensor RowInv) Forward(Tensor a, int heads, float alpha)
    {
        var l = new Layout(a, heads);
        var o = empty_like(a);
        var rowMax = empty(l.Heads, l.N, dtype: ScalarType.Float32, device: a.device);
        var rowInv = empty(l.Heads, l.N, dtype: ScalarType.Float32, device: a.device);
        float* pa = (float*)Pointer(a), po = (float*)Pointer(o), pm = (float*)Pointer(rowMax), pi = (float*)Pointer(rowInv);
        ForEachHead(l, (w, h) =>
        {
            long at = l.Offset(h);
            Probabilities(w, l, pa + at, alpha, pm + (long)h * l.N, pi + (long)h * l.N, recompute: false);
            Gemm(w.P, w.Np, 1, l.N, pa + at, l.Ld, l.D, po + at, l.Ld, l.N, accumulate: false);        // O = P A
        });
        GC.KeepAlive(a);
        return (o, rowMax, rowInv);
    }

    /// <summary>dA = Pᵀ dO + α (dS + dSᵀ) A with dS = P ⊙ (dP − rowsum(dP ⊙ P)), dP = dO Aᵀ; P recomputed.</summary>
    internal static Tensor Backward(Tensor a, Tensor dO, Tensor rowMax, Tensor rowInv, int heads, float alpha)
    {
        var l = new Layout(a, heads);
        var da = empty_like(a);
        float* pa = (float*)Pointer(a), pg = (float*)Pointer(dO), pd = (float*)Pointer(da);
        float* pm = (float*)Pointer(rowMax), pi = (float*)Pointer(rowInv);
        ForEachHead(l, (w, h) =>
        {
            long at = l.Offset(h);
            Probabilities(w, l, pa + at, alpha, pm + (long)h * l.N, pi + (long)h * l.N, recompute: true);
            int np = w.Np;
            Gemm(pg + at, l.Ld, 1, l.N, w.At, np, np, w.S, np, l.D, accumulate: false);                 // dP = dO Aᵀ
            SoftmaxBackwardSymmetrised(w.P, w.S, l.N, np, alpha);                                         // S ← α(dS + dSᵀ)
            Gemm(w.P, 1, np, l.N, pg + at, l.Ld, l.D, pd + at, l.Ld, l.N, accumulate: false);           // Pᵀ dO
            Gemm(w.S, np, 1, l.N, pa + at, l.Ld, l.D, pd + at, l.Ld, l.N, accumulate: true);            // + α(dS + dSᵀ) A
        });
        GC.KeepAlive(a);
        GC.KeepAlive(dO);
        return da;
    }

    /// <summary>Head g = (b, k) of [B, N, K·d]: rows of d floats at a stride of K·d, starting at b·N·K·d + k·d.</summary>
    private readonly struct Layout(Tensor a, int heads)
    {
        public readonly int N = (int)a.shape[1], Ld = (int)a.shape[2], D = (int)a.shape[2] / heads, K = heads;
        public readonly int Heads = (int)a.shape[0] * heads;

        public long Offset(int g) => (long)(g / K) * N * Ld + (long)(g % K) * D;
    }

    /// <summary>Per-thread buffers: Aᵀ packed [d, Np], scores S and probabilities P [N, Np] (Np: N rounded up to 16).</summary>
    private sealed class Workspace : IDisposable
    {
        public readonly int Np;
        public readonly float* At, S, P;

        public Workspace(int n, int d)
        {
            Np = (n + Lanes - 1) / Lanes * Lanes;
            At = (float*)NativeMemory.AlignedAlloc((nuint)(d * Np * sizeof(float)), 64);
            S = (float*)NativeMemory.AlignedAlloc((nuint)((long)n * Np * sizeof(float)), 64);
            P = (float*)NativeMemory.AlignedAlloc((nuint)((long)n * Np * sizeof(float)), 64);
        }

        public void Dispose()
        {
            NativeMemory.AlignedFree(At);
            NativeMemory.AlignedFree(S);
            NativeMemory.AlignedFree(P);
        }
    }

    private delegate void HeadBody(Workspace w, int head);

    /// <summary>
    /// Smallest share of work (N²·d per head, summed) worth a thread of its own: waking an OpenMP worker costs tens of
    /// microseconds, a head of the fixtures' size (N = 17, d = 16) well under one.
    /// </summary>
    private const long MinWorkPerPart = 1L << 20;

    /// <summary>Runs <paramref name="body"/> for every head, the heads split into contiguous ranges over libtorch's threads.</summary>
    private static void ForEachHead(Layout l, HeadBody body) =>
        Run(l.Heads, (_, h0, h1) =>
        {
            using var w = new Workspace(l.N, l.D);
            for (long h = h0; h < h1; h++) body(w, (int)h);
        }, minRowsPerPart: Math.Max(1, MinWorkPerPart / ((long)l.N * l.N * l.D)));

    /// <summary>
    /// Packs Aᵀ, computes S = A Aᵀ and P = softmax(α S) row by row into the workspace. Forward: stores each row's maximum
    /// of α S and 1 / Σ exp; recompute: reads them, so P is the forward's bit for bit.
    /// </summary>
    private static void Probabilities(Workspace w, Layout l, float* a, float alpha, float* rowMax, float* rowInv, bool recompute)
    {
        int np = w.Np, n = l.N, d = l.D;
        for (int k = 0; k < d; k++)
        {
            float* dst = w.At + k * np;
            for (int j = 0; j < n; j++) dst[j] = a[(long)j * l.Ld + k];
            for (int j = n; j < np; j++) dst[j] = 0f;
        }
        Gemm(a, l.Ld, 1, n, w.At, np, np, w.S, np, d, accumulate: false);                               // S = A Aᵀ
        var row = new SoftmaxRow(n, alpha);
        for (int i = 0; i < n; i++)
        {
            float* s = w.S + (long)i * np, p = w.P + (long)i * np;
            if (recompute) row.Write(s, p, rowMax[i], rowInv[i]);
            else (rowMax[i], rowInv[i]) = row.Forward(s, p, np);
        }
    }

    /// <summary>
    /// One row of softmax(α s) over n scores (p zero past n). <see cref="Forward"/> and <see cref="Write"/> compute each
    /// probability with the same operations, exp(α s − m) · (1/Σ), so a recomputed row equals the forward's bit for bit.
    /// </summary>
    private readonly struct SoftmaxRow(int n, float alpha)
    {
        private readonly int _full = n / Lanes, _rem = n % Lanes;
        private readonly Vector512<float> _alpha = Vector512.Create(alpha);
        private readonly Vector512<float> _tail = SoftmaxSimd.TailMask(n % Lanes);

        /// <summary>Writes the row's probabilities and returns its maximum of α s and 1 / Σ exp(α s − m).</summary>
        public (float Max, float Inv) Forward(float* s, float* p, int np)
        {
            var mx = Vector512.Create(float.NegativeInfinity);
            for (int v = 0; v < _full; v++) mx = Avx512F.Max(mx, Vector512.Load(s + v * Lanes) * _alpha);
            if (_rem != 0)
                mx = Avx512F.Max(mx, Vector512.ConditionalSelect(_tail, Vector512.Load(s + _full * Lanes) * _alpha, Vector512.Create(float.NegativeInfinity)));
            float m = SoftmaxSimd.HorizontalMax(mx);
            var vm = Vector512.Create(m);
            var sum = Vector512<float>.Zero;
            for (int v = 0; v < _full; v++)
            {
                var e = SoftmaxSimd.Exp(Vector512.Load(s + v * Lanes) * _alpha - vm);
                e.Store(p + v * Lanes);
                sum += e;
            }
            if (_rem != 0)
            {
                var e = Vector512.ConditionalSelect(_tail, SoftmaxSimd.Exp(Vector512.Load(s + _full * Lanes) * _alpha - vm), Vector512<float>.Zero);
                e.Store(p + _full * Lanes);
                sum += e;
            }
            float inv = 1f / Vector512.Sum(sum);
            var vi = Vector512.Create(inv);
            for (int v = 0; v < np; v += Lanes) (Vector512.Load(p + v) * vi).Store(p + v);
            return (m, inv);
        }

        /// <summary>Writes the probabilities of a row whose maximum and 1 / Σ are known.</summary>
        public void Write(float* s, float* p, float max, float inv)
        {
            var vm = Vector512.Create(max);
            var vi = Vector512.Create(inv);
            for (int v = 0; v < _full; v++) (SoftmaxSimd.Exp(Vector512.Load(s + v * Lanes) * _alpha - vm) * vi).Store(p + v * Lanes);
            if (_rem != 0)
                Vector512.ConditionalSelect(_tail, SoftmaxSimd.Exp(Vector512.Load(s + _full * Lanes) * _alpha - vm) * vi, Vector512<float>.Zero)
                    .Store(p + _full * Lanes);
        }
    }

    /// <summary>
    /// In place over dP (<paramref name="s"/>): dS = P ⊙ (dP − Σ_j dP ⊙ P) row by row, then s ← α(dS + dSᵀ), the
    /// symmetric factor of the Gram product's gradient.
    /// </summary>
    private static void SoftmaxBackwardSymmetrised(float* p, float* s, int n, int np, float alpha)
    {
        for (int i = 0; i < n; i++)
        {
            float* pr = p + (long)i * np, sr = s + (long)i * np;
            var acc = Vector512<float>.Zero;
            for (int v = 0; v < np; v += Lanes) acc = Vector512.FusedMultiplyAdd(Vector512.Load(pr + v), Vector512.Load(sr + v), acc);   // P is 0 past N
            var c = Vector512.Create(Vector512.Sum(acc));
            for (int v = 0; v < np; v += Lanes) (Vector512.Load(pr + v) * (Vector512.Load(sr + v) - c)).Store(sr + v);
        }
        // s ← α(s + sᵀ) over 16 × 16 tile pairs, so that both tiles of a pair stay in L1 (a plain column walk touches a
        // new cache line per element).
        const int T = 16;
        for (int i0 = 0; i0 < n; i0 += T)
        {
            int i1 = Math.Min(n, i0 + T);
            for (int j0 = i0; j0 < n; j0 += T)
            {
                int j1 = Math.Min(n, j0 + T);
                for (int i = i0; i < i1; i++)
                {
                    float* sr = s + (long)i * np;
                    for (int j = Math.Max(j0, i); j < j1; j++)
                    {
                        float t = alpha * (sr[j] + s[(long)j * np + i]);
                        sr[j] = t;
                        s[(long)j * np + i] = t;
                    }
                }
            }
        }
    }

    /// <summary>
    /// C[m, cols] (+)= X[m, k] · Y[k, cols] with X read as x[r·rs + p·ps] (row-major or transposed), Y row-major with
    /// leading dimension ldy and cols a multiple of 16, C with leading dimension ldc.
    /// </summary>
    private static void Gemm(float* x, int rs, int ps, int m, float* y, int ldy, int cols, float* c, int ldc, int k, bool accumulate)
    {
        int j = 0;
        for (; j + 4 * Lanes <= cols; j += 4 * Lanes)
        {
            int i = 0;
            for (; i + 6 <= m; i += 6) Tile6x4(x + (long)i * rs, rs, ps, y + j, ldy, c + (long)i * ldc + j, ldc, k, accumulate);
            for (; i < m; i++) Row(x + (long)i * rs, ps, y + j, ldy, c + (long)i * ldc + j, 4, k, accumulate);
        }
        if (cols - j == 3 * Lanes)
        {
            int i = 0;
            for (; i + 8 <= m; i += 8) Tile8x3(x + (long)i * rs, rs, ps, y + j, ldy, c + (long)i * ldc + j, ldc, k, accumulate);
            for (; i < m; i++) Row(x + (long)i * rs, ps, y + j, ldy, c + (long)i * ldc + j, 3, k, accumulate);
            return;
        }
        for (; j < cols; j += Lanes)
        {
            int i = 0;
            for (; i + 6 <= m; i += 6) Tile6x1(x + (long)i * rs, rs, ps, y + j, ldy, c + (long)i * ldc + j, ldc, k, accumulate);
            for (; i < m; i++) Row(x + (long)i * rs, ps, y + j, ldy, c + (long)i * ldc + j, 1, k, accumulate);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile6x4(float* x, int rs, int ps, float* y, int ldy, float* c, int ldc, int k, bool accumulate)
    {
        Vector512<float> c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23;
        Vector512<float> c30, c31, c32, c33, c40, c41, c42, c43, c50, c51, c52, c53;
        if (accumulate)
        {
            float* q = c;
            c00 = Vector512.Load(q); c01 = Vector512.Load(q + 16); c02 = Vector512.Load(q + 32); c03 = Vector512.Load(q + 48); q += ldc;
            c10 = Vector512.Load(q); c11 = Vector512.Load(q + 16); c12 = Vector512.Load(q + 32); c13 = Vector512.Load(q + 48); q += ldc;
            c20 = Vector512.Load(q); c21 = Vector512.Load(q + 16); c22 = Vector512.Load(q + 32); c23 = Vector512.Load(q + 48); q += ldc;
            c30 = Vector512.Load(q); c31 = Vector512.Load(q + 16); c32 = Vector512.Load(q + 32); c33 = Vector512.Load(q + 48); q += ldc;
            c40 = Vector512.Load(q); c41 = Vector512.Load(q + 16); c42 = Vector512.Load(q + 32); c43 = Vector512.Load(q + 48); q += ldc;
            c50 = Vector512.Load(q); c51 = Vector512.Load(q + 16); c52 = Vector512.Load(q + 32); c53 = Vector512.Load(q + 48);
        }
        else
        {
            c00 = c01 = c02 = c03 = c10 = c11 = c12 = c13 = c20 = c21 = c22 = c23 = Vector512<float>.Zero;
            c30 = c31 = c32 = c33 = c40 = c41 = c42 = c43 = c50 = c51 = c52 = c53 = Vector512<float>.Zero;
        }
        long r1 = rs, r2 = 2L * rs, r3 = 3L * rs, r4 = 4L * rs, r5 = 5L * rs;
        float* xp = x, yp = y;
        for (int p = 0; p < k; p++, xp += ps, yp += ldy)
        {
            var y0 = Vector512.Load(yp); var y1 = Vector512.Load(yp + 16); var y2 = Vector512.Load(yp + 32); var y3 = Vector512.Load(yp + 48);
            var b = Vector512.Create(xp[0]);
            c00 = Vector512.FusedMultiplyAdd(b, y0, c00); c01 = Vector512.FusedMultiplyAdd(b, y1, c01); c02 = Vector512.FusedMultiplyAdd(b, y2, c02); c03 = Vector512.FusedMultiplyAdd(b, y3, c03);
            b = Vector512.Create(xp[r1]);
            c10 = Vector512.FusedMultiplyAdd(b, y0, c10); c11 = Vector512.FusedMultiplyAdd(b, y1, c11); c12 = Vector512.FusedMultiplyAdd(b, y2, c12); c13 = Vector512.FusedMultiplyAdd(b, y3, c13);
            b = Vector512.Create(xp[r2]);
            c20 = Vector512.FusedMultiplyAdd(b, y0, c20); c21 = Vector512.FusedMultiplyAdd(b, y1, c21); c22 = Vector512.FusedMultiplyAdd(b, y2, c22); c23 = Vector512.FusedMultiplyAdd(b, y3, c23);
            b = Vector512.Create(xp[r3]);
            c30 = Vector512.FusedMultiplyAdd(b, y0, c30); c31 = Vector512.FusedMultiplyAdd(b, y1, c31); c32 = Vector512.FusedMultiplyAdd(b, y2, c32); c33 = Vector512.FusedMultiplyAdd(b, y3, c33);
            b = Vector512.Create(xp[r4]);
            c40 = Vector512.FusedMultiplyAdd(b, y0, c40); c41 = Vector512.FusedMultiplyAdd(b, y1, c41); c42 = Vector512.FusedMultiplyAdd(b, y2, c42); c43 = Vector512.FusedMultiplyAdd(b, y3, c43);
            b = Vector512.Create(xp[r5]);
            c50 = Vector512.FusedMultiplyAdd(b, y0, c50); c51 = Vector512.FusedMultiplyAdd(b, y1, c51); c52 = Vector512.FusedMultiplyAdd(b, y2, c52); c53 = Vector512.FusedMultiplyAdd(b, y3, c53);
        }
        c00.Store(c); c01.Store(c + 16); c02.Store(c + 32); c03.Store(c + 48); c += ldc;
        c10.Store(c); c11.Store(c + 16); c12.Store(c + 32); c13.Store(c + 48); c += ldc;
        c20.Store(c); c21.Store(c + 16); c22.Store(c + 32); c23.Store(c + 48); c += ldc;
        c30.Store(c); c31.Store(c + 16); c32.Store(c + 32); c33.Store(c + 48); c += ldc;
        c40.Store(c); c41.Store(c + 16); c42.Store(c + 32); c43.Store(c + 48); c += ldc;
        c50.Store(c); c51.Store(c + 16); c52.Store(c + 32); c53.Store(c + 48);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile8x3(float* x, int rs, int ps, float* y, int ldy, float* c, int ldc, int k, bool accumulate)
    {
        Vector512<float> c00, c01, c02, c10, c11, c12, c20, c21, c22, c30, c31, c32;
        Vector512<float> c40, c41, c42, c50, c51, c52, c60, c61, c62, c70, c71, c72;
        if (accumulate)
        {
            float* q = c;
            c00 = Vector512.Load(q); c01 = Vector512.Load(q + 16); c02 = Vector512.Load(q + 32); q += ldc;
            c10 = Vector512.Load(q); c11 = Vector512.Load(q + 16); c12 = Vector512.Load(q + 32); q += ldc;
            c20 = Vector512.Load(q); c21 = Vector512.Load(q + 16); c22 = Vector512.Load(q + 32); q += ldc;
            c30 = Vector512.Load(q); c31 = Vector512.Load(q + 16); c32 = Vector512.Load(q + 32); q += ldc;
            c40 = Vector512.Load(q); c41 = Vector512.Load(q + 16); c42 = Vector512.Load(q + 32); q += ldc;
            c50 = Vector512.Load(q); c51 = Vector512.Load(q + 16); c52 = Vector512.Load(q + 32); q += ldc;
            c60 = Vector512.Load(q); c61 = Vector512.Load(q + 16); c62 = Vector512.Load(q + 32); q += ldc;
            c70 = Vector512.Load(q); c71 = Vector512.Load(q + 16); c72 = Vector512.Load(q + 32);
        }
        else
        {
            c00 = c01 = c02 = c10 = c11 = c12 = c20 = c21 = c22 = c30 = c31 = c32 = Vector512<float>.Zero;
            c40 = c41 = c42 = c50 = c51 = c52 = c60 = c61 = c62 = c70 = c71 = c72 = Vector512<float>.Zero;
        }
        long r1 = rs, r2 = 2L * rs, r3 = 3L * rs, r4 = 4L * rs, r5 = 5L * rs, r6 = 6L * rs, r7 = 7L * rs;
        float* xp = x, yp = y;
        for (int p = 0; p < k; p++, xp += ps, yp += ldy)
        {
            var y0 = Vector512.Load(yp); var y1 = Vector512.Load(yp + 16); var y2 = Vector512.Load(yp + 32);
            var b = Vector512.Create(xp[0]);
            c00 = Vector512.FusedMultiplyAdd(b, y0, c00); c01 = Vector512.FusedMultiplyAdd(b, y1, c01); c02 = Vector512.FusedMultiplyAdd(b, y2, c02);
            b = Vector512.Create(xp[r1]);
            c10 = Vector512.FusedMultiplyAdd(b, y0, c10); c11 = Vector512.FusedMultiplyAdd(b, y1, c11); c12 = Vector512.FusedMultiplyAdd(b, y2, c12);
            b = Vector512.Create(xp[r2]);
            c20 = Vector512.FusedMultiplyAdd(b, y0, c20); c21 = Vector512.FusedMultiplyAdd(b, y1, c21); c22 = Vector512.FusedMultiplyAdd(b, y2, c22);
            b = Vector512.Create(xp[r3]);
            c30 = Vector512.FusedMultiplyAdd(b, y0, c30); c31 = Vector512.FusedMultiplyAdd(b, y1, c31); c32 = Vector512.FusedMultiplyAdd(b, y2, c32);
            b = Vector512.Create(xp[r4]);
            c40 = Vector512.FusedMultiplyAdd(b, y0, c40); c41 = Vector512.FusedMultiplyAdd(b, y1, c41); c42 = Vector512.FusedMultiplyAdd(b, y2, c42);
            b = Vector512.Create(xp[r5]);
            c50 = Vector512.FusedMultiplyAdd(b, y0, c50); c51 = Vector512.FusedMultiplyAdd(b, y1, c51); c52 = Vector512.FusedMultiplyAdd(b, y2, c52);
            b = Vector512.Create(xp[r6]);
            c60 = Vector512.FusedMultiplyAdd(b, y0, c60); c61 = Vector512.FusedMultiplyAdd(b, y1, c61); c62 = Vector512.FusedMultiplyAdd(b, y2, c62);
            b = Vector512.Create(xp[r7]);
            c70 = Vector512.FusedMultiplyAdd(b, y0, c70); c71 = Vector512.FusedMultiplyAdd(b, y1, c71); c72 = Vector512.FusedMultiplyAdd(b, y2, c72);
        }
        c00.Store(c); c01.Store(c + 16); c02.Store(c + 32); c += ldc;
        c10.Store(c); c11.Store(c + 16); c12.Store(c + 32); c += ldc;
        c20.Store(c); c21.Store(c + 16); c22.Store(c + 32); c += ldc;
        c30.Store(c); c31.Store(c + 16); c32.Store(c + 32); c += ldc;
        c40.Store(c); c41.Store(c + 16); c42.Store(c + 32); c += ldc;
        c50.Store(c); c51.Store(c + 16); c52.Store(c + 32); c += ldc;
        c60.Store(c); c61.Store(c + 16); c62.Store(c + 32); c += ldc;
        c70.Store(c); c71.Store(c + 16); c72.Store(c + 32);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile6x1(float* x, int rs, int ps, float* y, int ldy, float* c, int ldc, int k, bool accumulate)
    {
        Vector512<float> c0, c1, c2, c3, c4, c5;
        if (accumulate)
        {
            c0 = Vector512.Load(c); c1 = Vector512.Load(c + ldc); c2 = Vector512.Load(c + 2 * ldc);
            c3 = Vector512.Load(c + 3 * ldc); c4 = Vector512.Load(c + 4 * ldc); c5 = Vector512.Load(c + 5 * ldc);
        }
        else c0 = c1 = c2 = c3 = c4 = c5 = Vector512<float>.Zero;
        long r1 = rs, r2 = 2L * rs, r3 = 3L * rs, r4 = 4L * rs, r5 = 5L * rs;
        float* xp = x, yp = y;
        for (int p = 0; p < k; p++, xp += ps, yp += ldy)
        {
            var y0 = Vector512.Load(yp);
            c0 = Vector512.FusedMultiplyAdd(Vector512.Create(xp[0]), y0, c0);
            c1 = Vector512.FusedMultiplyAdd(Vector512.Create(xp[r1]), y0, c1);
            c2 = Vector512.FusedMultiplyAdd(Vector512.Create(xp[r2]), y0, c2);
            c3 = Vector512.FusedMultiplyAdd(Vector512.Create(xp[r3]), y0, c3);
            c4 = Vector512.FusedMultiplyAdd(Vector512.Create(xp[r4]), y0, c4);
            c5 = Vector512.FusedMultiplyAdd(Vector512.Create(xp[r5]), y0, c5);
        }
        c0.Store(c); c1.Store(c + ldc); c2.Store(c + 2 * ldc); c3.Store(c + 3 * ldc); c4.Store(c + 4 * ldc); c5.Store(c + 5 * ldc);
    }

    /// <summary>One output row of <paramref name="vecs"/> vectors (1 to 4): the rows left over by the tiles.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Row(float* x, int ps, float* y, int ldy, float* c, int vecs, int k, bool accumulate)
    {
        var c0 = accumulate ? Vector512.Load(c) : Vector512<float>.Zero;
        var c1 = accumulate && vecs > 1 ? Vector512.Load(c + 16) : Vector512<float>.Zero;
        var c2 = accumulate && vecs > 2 ? Vector512.Load(c + 32) : Vector512<float>.Zero;
        var c3 = accumulate && vecs > 3 ? Vector512.Load(c + 48) : Vector512<float>.Zero;
        for (int p = 0; p < k; p++)
        {
            var b = Vector512.Create(x[(long)p * ps]);
            float* yp = y + (long)p * ldy;
            c0 = Vector512.FusedMultiplyAdd(b, Vector512.Load(yp), c0);
            if (vecs > 1) c1 = Vector512.FusedMultiplyAdd(b, Vector512.Load(yp + 16), c1);
            if (vecs > 2) c2 = Vector512.FusedMultiplyAdd(b, Vector512.Load(yp + 32), c2);
            if (vecs > 3) c3 = Vector512.FusedMultiplyAdd(b, Vector512.Load(yp + 48), c3);
        }
        c0.Store(c);
        if (vecs > 1) c1.Store(c + 16);
        if (vecs > 2) c2.Store(c + 32);
        if (vecs > 3) c3.Store(c + 48);
    }
}
