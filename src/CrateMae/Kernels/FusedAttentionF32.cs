using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;
using static TorchSharp.torch;
using static CrateMae.Kernels.SimdTensor;

namespace CrateMae.Kernels;

/// <summary>
/// MSSA's attention core softmax(α A Aᵀ) A in float32, one head at a time in the cache, in C# vectors of any width (<see cref="IVec{TSelf}"/>): for each head the
/// scores, probabilities and gradients live in per-thread buffers of N × N floats (155 KB at N = 197), never in a
/// [G, N, N] tensor, and the backward recomputes the probabilities from A and two per-row statistics (as a flash kernel
/// does), so a training step keeps O(N) per head, not O(N²).
/// </summary>
/// <remarks>
/// Why: in fp32 training at 224 px (N = 197, d_h = 48) libtorch's CPU flash kernel spent about 28 % of a crate-small
/// step in small MKL products (64-row query blocks, ≈ 125 GFLOP/s on two cores; MKL_VERBOSE), and the explicit form
/// kept 360 MB of probabilities at batch 8. Here the products are register-blocked FMA kernels sized to the register
/// file (<see cref="VectorRegisters"/>): 6 × 4 and 8 × 3 vector output tiles with 32 registers (6 × 64 and 8 × 48
/// floats at 16 lanes), 6 × 2 with 16 (AVX2), and
/// the backward exploits that the scores are symmetric (one set of queries, keys and values): the gradient of A is
/// Pᵀ·dO + α(dS + dSᵀ)·A, one product fewer than dS·A and dSᵀ·A separately. The probabilities are recomputed with the
/// forward's own arithmetic (same products, same exponential, the saved row maximum and 1/sum), so they are the
/// forward's bit for bit. The heads are read in place from A [B, N, K·d] and the output is written merged, so there is
/// no copy of the heads either way. Used for fp32 MSSA with the vector kernels on, for head widths that are whole
/// vectors (at 16 lanes 16, 32, 48, 64, …; at 8 or 4 lanes any multiple of 8 or 4), where
/// <see cref="KernelOptions.ResolveAttention"/> measured it faster; elsewhere the explicit form or libtorch's flash kernel runs.
/// </remarks>
internal sealed unsafe class FusedAttentionF32 : autograd.SingleTensorFunction<FusedAttentionF32>
{
    public override string Name => nameof(FusedAttentionF32);

    /// <summary>
    /// Vector registers the tiles may fill: 32 with AVX-512 (whose encoding reaches 32 registers at every width) and on
    /// ARM64, 16 on x86 without AVX-512 (AVX2): 24 accumulators there would spill to the stack.
    /// </summary>
    internal static readonly int VectorRegisters = Avx512F.IsSupported || AdvSimd.Arm64.IsSupported ? 32 : 16;

    /// <summary>
    /// Whether the kernel takes A [B, N, K·d] with <paramref name="heads"/> heads at <paramref name="bits"/>: contiguous
    /// float32 CPU, d a whole number of vectors, N ≤ 2,048.
    /// </summary>
    public static bool Supports(Tensor a, long heads, int bits) =>
        IsRowTensor(a, bits) && a.dtype == ScalarType.Float32 && a.dim() == 3 && heads > 0 && a.shape[2] % heads == 0
        && SupportsShape(a.shape[1], a.shape[2] / heads, bits);

    /// <summary>Whether N tokens and head width d suit the kernel at <paramref name="bits"/> (d a whole number of vectors; the N × N buffers bounded).</summary>
    public static bool SupportsShape(long n, long d, int bits) =>
        bits != 0 && d % LanesOf(bits) == 0 && d is > 0 and <= 256 && n is > 0 and <= 2048;

    /// <summary>
    /// softmax(α A_k A_kᵀ) A_k for every head k of A [B, N, K·d], read in place (no copy of the heads), written
    /// head-interleaved: [B, N, K·d] → [B, N, K·d], differentiable in A.
    /// </summary>
    public static Tensor Of(Tensor a, long heads, double alpha, int bits)
    {
        if (is_grad_enabled() && a.requires_grad) return apply(a, heads, alpha, bits);
        var (o, rowMax, rowInv) = Forward(a, (int)heads, (float)alpha, bits);
        rowMax.Dispose();
        rowInv.Dispose();
        return o;
    }

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var (a, heads, alpha, bits) = ((Tensor)vars[0], (long)vars[1], (double)vars[2], (int)vars[3]);
        var (o, rowMax, rowInv) = Forward(a, (int)heads, (float)alpha, bits);
        ctx.save_for_backward([a, rowMax, rowInv]);
        ctx.save_data("heads", heads);
        ctx.save_data("alpha", alpha);
        ctx.save_data("bits", bits);
        return o;
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad)
    {
        AutogradHandoff.Begin();
        var saved = ctx.get_saved_variables();
        using var a = saved[0];
        using var rowMax = saved[1];
        using var rowInv = saved[2];
        var (heads, alpha, bits) = ((long)ctx.get_data("heads"), (double)ctx.get_data("alpha"), (int)ctx.get_data("bits"));
        using (grad)
        {
            using var dO = grad.contiguous();
            // One gradient per input of apply(a, heads, alpha, bits); none for the scalars. (AutogradHandoff: freed early.)
            return [AutogradHandoff.Return(Backward(a, dO, rowMax, rowInv, (int)heads, (float)alpha, bits)), null!, null!, null!];
        }
    }

    /// <summary>
    /// The output [B, N, K·d] and, per head and row, the maximum of the scaled scores and 1 / Σ exp (float32 [B·K, N]).
    /// </summary>
    internal static (Tensor O, Tensor RowMax, Tensor RowInv) Forward(Tensor a, int heads, float alpha, int bits, int registers = 0)
    {
        bool wide = (registers == 0 ? VectorRegisters : registers) >= 32;
        return bits switch
        {
            512 => Forward<V512>(a, heads, alpha, wide),
            256 => Forward<V256>(a, heads, alpha, wide),
            _ => Forward<V128>(a, heads, alpha, wide),
        };
    }

    private static (Tensor O, Tensor RowMax, Tensor RowInv) Forward<TVec>(Tensor a, int heads, float alpha, bool wide) where TVec : struct, IVec<TVec>
    {
        var l = new Layout(a, heads);
        var o = empty_like(a);
        var rowMax = empty(l.Heads, l.N, dtype: ScalarType.Float32, device: a.device);
        var rowInv = empty(l.Heads, l.N, dtype: ScalarType.Float32, device: a.device);
        float* pa = (float*)Pointer(a), po = (float*)Pointer(o), pm = (float*)Pointer(rowMax), pi = (float*)Pointer(rowInv);
        ForEachHead(l, TVec.Lanes, (w, h) =>
        {
            long at = l.Offset(h);
            Probabilities<TVec>(w, l, pa + at, alpha, pm + (long)h * l.N, pi + (long)h * l.N, recompute: false, wide);
            Gemm<TVec>(w.P, w.Np, 1, l.N, pa + at, l.Ld, l.D, po + at, l.Ld, l.N, accumulate: false, wide);        // O = P A
        });
        GC.KeepAlive(a);
        return (o, rowMax, rowInv);
    }

    /// <summary>dA = Pᵀ dO + α (dS + dSᵀ) A with dS = P ⊙ (dP − rowsum(dP ⊙ P)), dP = dO Aᵀ; P recomputed.</summary>
    internal static Tensor Backward(Tensor a, Tensor dO, Tensor rowMax, Tensor rowInv, int heads, float alpha, int bits, int registers = 0)
    {
        bool wide = (registers == 0 ? VectorRegisters : registers) >= 32;
        return bits switch
        {
            512 => Backward<V512>(a, dO, rowMax, rowInv, heads, alpha, wide),
            256 => Backward<V256>(a, dO, rowMax, rowInv, heads, alpha, wide),
            _ => Backward<V128>(a, dO, rowMax, rowInv, heads, alpha, wide),
        };
    }

    private static Tensor Backward<TVec>(Tensor a, Tensor dO, Tensor rowMax, Tensor rowInv, int heads, float alpha, bool wide) where TVec : struct, IVec<TVec>
    {
        var l = new Layout(a, heads);
        var da = empty_like(a);
        float* pa = (float*)Pointer(a), pg = (float*)Pointer(dO), pd = (float*)Pointer(da);
        float* pm = (float*)Pointer(rowMax), pi = (float*)Pointer(rowInv);
        ForEachHead(l, TVec.Lanes, (w, h) =>
        {
            long at = l.Offset(h);
            Probabilities<TVec>(w, l, pa + at, alpha, pm + (long)h * l.N, pi + (long)h * l.N, recompute: true, wide);
            int np = w.Np;
            Gemm<TVec>(pg + at, l.Ld, 1, l.N, w.At, np, np, w.S, np, l.D, accumulate: false, wide);                 // dP = dO Aᵀ
            SoftmaxBackwardSymmetrised<TVec>(w.P, w.S, l.N, np, alpha);                                         // S ← α(dS + dSᵀ)
            Gemm<TVec>(w.P, 1, np, l.N, pg + at, l.Ld, l.D, pd + at, l.Ld, l.N, accumulate: false, wide);           // Pᵀ dO
            Gemm<TVec>(w.S, np, 1, l.N, pa + at, l.Ld, l.D, pd + at, l.Ld, l.N, accumulate: true, wide);            // + α(dS + dSᵀ) A
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

    /// <summary>Per-thread buffers: Aᵀ packed [d, Np], scores S and probabilities P [N, Np] (Np: N rounded up to whole vectors).</summary>
    private sealed class Workspace : IDisposable
    {
        public readonly int Np;
        public readonly float* At, S, P;

        public Workspace(int n, int d, int lanes)
        {
            Np = (n + lanes - 1) / lanes * lanes;
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
    private static void ForEachHead(Layout l, int lanes, HeadBody body) =>
        Run(l.Heads, (_, h0, h1) =>
        {
            using var w = new Workspace(l.N, l.D, lanes);
            for (long h = h0; h < h1; h++) body(w, (int)h);
        }, minRowsPerPart: Math.Max(1, MinWorkPerPart / ((long)l.N * l.N * l.D)));

    /// <summary>
    /// Packs Aᵀ, computes S = A Aᵀ and P = softmax(α S) row by row into the workspace. Forward: stores each row's maximum
    /// of α S and 1 / Σ exp; recompute: reads them, so P is the forward's bit for bit.
    /// </summary>
    private static void Probabilities<TVec>(Workspace w, Layout l, float* a, float alpha, float* rowMax, float* rowInv, bool recompute, bool wide)
        where TVec : struct, IVec<TVec>
    {
        int np = w.Np, n = l.N, d = l.D;
        for (int k = 0; k < d; k++)
        {
            float* dst = w.At + k * np;
            for (int j = 0; j < n; j++) dst[j] = a[(long)j * l.Ld + k];
            for (int j = n; j < np; j++) dst[j] = 0f;
        }
        Gemm<TVec>(a, l.Ld, 1, n, w.At, np, np, w.S, np, d, accumulate: false, wide);                               // S = A Aᵀ
        var row = new SoftmaxRow<TVec>(n, alpha);
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
    private readonly struct SoftmaxRow<TVec>(int n, float alpha) where TVec : struct, IVec<TVec>
    {
        private readonly int _full = n / TVec.Lanes, _rem = n % TVec.Lanes;
        private readonly TVec _alpha = TVec.Create(alpha);
        private readonly TVec _tail = Vec.TailMask<TVec>(n % TVec.Lanes);

        /// <summary>Writes the row's probabilities and returns its maximum of α s and 1 / Σ exp(α s − m).</summary>
        public (float Max, float Inv) Forward(float* s, float* p, int np)
        {
            int lanes = TVec.Lanes;
            var negInf = TVec.Create(float.NegativeInfinity);
            var mx = negInf;
            for (int v = 0; v < _full; v++) mx = TVec.Max(mx, TVec.Load(s + v * lanes) * _alpha);
            if (_rem != 0)
                mx = TVec.Max(mx, TVec.Select(_tail, TVec.Load(s + _full * lanes) * _alpha, negInf));
            float m = TVec.HorizontalMax(mx);
            var vm = TVec.Create(m);
            var sum = TVec.Zero;
            for (int v = 0; v < _full; v++)
            {
                var e = Vec.Exp(TVec.Load(s + v * lanes) * _alpha - vm);
                TVec.Store(e, p + v * lanes);
                sum += e;
            }
            if (_rem != 0)
            {
                var e = TVec.Select(_tail, Vec.Exp(TVec.Load(s + _full * lanes) * _alpha - vm), TVec.Zero);
                TVec.Store(e, p + _full * lanes);
                sum += e;
            }
            float inv = 1f / TVec.Sum(sum);
            var vi = TVec.Create(inv);
            for (int v = 0; v < np; v += lanes) TVec.Store(TVec.Load(p + v) * vi, p + v);
            return (m, inv);
        }

        /// <summary>Writes the probabilities of a row whose maximum and 1 / Σ are known.</summary>
        public void Write(float* s, float* p, float max, float inv)
        {
            int lanes = TVec.Lanes;
            var vm = TVec.Create(max);
            var vi = TVec.Create(inv);
            for (int v = 0; v < _full; v++) TVec.Store(Vec.Exp(TVec.Load(s + v * lanes) * _alpha - vm) * vi, p + v * lanes);
            if (_rem != 0)
                TVec.Store(TVec.Select(_tail, Vec.Exp(TVec.Load(s + _full * lanes) * _alpha - vm) * vi, TVec.Zero), p + _full * lanes);
        }
    }

    /// <summary>
    /// In place over dP (<paramref name="s"/>): dS = P ⊙ (dP − Σ_j dP ⊙ P) row by row, then s ← α(dS + dSᵀ), the
    /// symmetric factor of the Gram product's gradient.
    /// </summary>
    private static void SoftmaxBackwardSymmetrised<TVec>(float* p, float* s, int n, int np, float alpha) where TVec : struct, IVec<TVec>
    {
        int lanes = TVec.Lanes;
        for (int i = 0; i < n; i++)
        {
            float* pr = p + (long)i * np, sr = s + (long)i * np;
            var acc = TVec.Zero;
            for (int v = 0; v < np; v += lanes) acc = TVec.Fma(TVec.Load(pr + v), TVec.Load(sr + v), acc);   // P is 0 past N
            var c = TVec.Create(TVec.Sum(acc));
            for (int v = 0; v < np; v += lanes) TVec.Store(TVec.Load(pr + v) * (TVec.Load(sr + v) - c), sr + v);
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
    /// leading dimension ldy and cols a whole number of vectors, C with leading dimension ldc. <paramref name="wide"/>: 32
    /// vector registers (6 × 4 and 8 × 3 vector tiles), else 16 (6 × 2).
    /// </summary>
    private static void Gemm<TVec>(float* x, int rs, int ps, int m, float* y, int ldy, int cols, float* c, int ldc, int k, bool accumulate, bool wide)
        where TVec : struct, IVec<TVec>
    {
        int lanes = TVec.Lanes;
        int j = 0;
        if (!wide)
        {
            for (; j + 2 * lanes <= cols; j += 2 * lanes)
            {
                int i = 0;
                for (; i + 6 <= m; i += 6) Tile6x2<TVec>(x + (long)i * rs, rs, ps, y + j, ldy, c + (long)i * ldc + j, ldc, k, accumulate);
                for (; i < m; i++) Row<TVec>(x + (long)i * rs, ps, y + j, ldy, c + (long)i * ldc + j, 2, k, accumulate);
            }
        }
        for (; wide && j + 4 * lanes <= cols; j += 4 * lanes)
        {
            int i = 0;
            for (; i + 6 <= m; i += 6) Tile6x4<TVec>(x + (long)i * rs, rs, ps, y + j, ldy, c + (long)i * ldc + j, ldc, k, accumulate);
            for (; i < m; i++) Row<TVec>(x + (long)i * rs, ps, y + j, ldy, c + (long)i * ldc + j, 4, k, accumulate);
        }
        if (wide && cols - j == 3 * lanes)
        {
            int i = 0;
            for (; i + 8 <= m; i += 8) Tile8x3<TVec>(x + (long)i * rs, rs, ps, y + j, ldy, c + (long)i * ldc + j, ldc, k, accumulate);
            for (; i < m; i++) Row<TVec>(x + (long)i * rs, ps, y + j, ldy, c + (long)i * ldc + j, 3, k, accumulate);
            return;
        }
        for (; j < cols; j += lanes)
        {
            int i = 0;
            for (; i + 6 <= m; i += 6) Tile6x1<TVec>(x + (long)i * rs, rs, ps, y + j, ldy, c + (long)i * ldc + j, ldc, k, accumulate);
            for (; i < m; i++) Row<TVec>(x + (long)i * rs, ps, y + j, ldy, c + (long)i * ldc + j, 1, k, accumulate);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile6x4<TVec>(float* x, int rs, int ps, float* y, int ldy, float* c, int ldc, int k, bool accumulate)
        where TVec : struct, IVec<TVec>
    {
        int L = TVec.Lanes;
        TVec c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23;
        TVec c30, c31, c32, c33, c40, c41, c42, c43, c50, c51, c52, c53;
        if (accumulate)
        {
            float* q = c;
            c00 = TVec.Load(q); c01 = TVec.Load(q + L); c02 = TVec.Load(q + 2 * L); c03 = TVec.Load(q + 3 * L); q += ldc;
            c10 = TVec.Load(q); c11 = TVec.Load(q + L); c12 = TVec.Load(q + 2 * L); c13 = TVec.Load(q + 3 * L); q += ldc;
            c20 = TVec.Load(q); c21 = TVec.Load(q + L); c22 = TVec.Load(q + 2 * L); c23 = TVec.Load(q + 3 * L); q += ldc;
            c30 = TVec.Load(q); c31 = TVec.Load(q + L); c32 = TVec.Load(q + 2 * L); c33 = TVec.Load(q + 3 * L); q += ldc;
            c40 = TVec.Load(q); c41 = TVec.Load(q + L); c42 = TVec.Load(q + 2 * L); c43 = TVec.Load(q + 3 * L); q += ldc;
            c50 = TVec.Load(q); c51 = TVec.Load(q + L); c52 = TVec.Load(q + 2 * L); c53 = TVec.Load(q + 3 * L);
        }
        else
        {
            c00 = c01 = c02 = c03 = c10 = c11 = c12 = c13 = c20 = c21 = c22 = c23 = TVec.Zero;
            c30 = c31 = c32 = c33 = c40 = c41 = c42 = c43 = c50 = c51 = c52 = c53 = TVec.Zero;
        }
        long r1 = rs, r2 = 2L * rs, r3 = 3L * rs, r4 = 4L * rs, r5 = 5L * rs;
        float* xp = x, yp = y;
        for (int p = 0; p < k; p++, xp += ps, yp += ldy)
        {
            var y0 = TVec.Load(yp); var y1 = TVec.Load(yp + L); var y2 = TVec.Load(yp + 2 * L); var y3 = TVec.Load(yp + 3 * L);
            var b = TVec.Create(xp[0]);
            c00 = TVec.Fma(b, y0, c00); c01 = TVec.Fma(b, y1, c01); c02 = TVec.Fma(b, y2, c02); c03 = TVec.Fma(b, y3, c03);
            b = TVec.Create(xp[r1]);
            c10 = TVec.Fma(b, y0, c10); c11 = TVec.Fma(b, y1, c11); c12 = TVec.Fma(b, y2, c12); c13 = TVec.Fma(b, y3, c13);
            b = TVec.Create(xp[r2]);
            c20 = TVec.Fma(b, y0, c20); c21 = TVec.Fma(b, y1, c21); c22 = TVec.Fma(b, y2, c22); c23 = TVec.Fma(b, y3, c23);
            b = TVec.Create(xp[r3]);
            c30 = TVec.Fma(b, y0, c30); c31 = TVec.Fma(b, y1, c31); c32 = TVec.Fma(b, y2, c32); c33 = TVec.Fma(b, y3, c33);
            b = TVec.Create(xp[r4]);
            c40 = TVec.Fma(b, y0, c40); c41 = TVec.Fma(b, y1, c41); c42 = TVec.Fma(b, y2, c42); c43 = TVec.Fma(b, y3, c43);
            b = TVec.Create(xp[r5]);
            c50 = TVec.Fma(b, y0, c50); c51 = TVec.Fma(b, y1, c51); c52 = TVec.Fma(b, y2, c52); c53 = TVec.Fma(b, y3, c53);
        }
        TVec.Store(c00, c); TVec.Store(c01, c + L); TVec.Store(c02, c + 2 * L); TVec.Store(c03, c + 3 * L); c += ldc;
        TVec.Store(c10, c); TVec.Store(c11, c + L); TVec.Store(c12, c + 2 * L); TVec.Store(c13, c + 3 * L); c += ldc;
        TVec.Store(c20, c); TVec.Store(c21, c + L); TVec.Store(c22, c + 2 * L); TVec.Store(c23, c + 3 * L); c += ldc;
        TVec.Store(c30, c); TVec.Store(c31, c + L); TVec.Store(c32, c + 2 * L); TVec.Store(c33, c + 3 * L); c += ldc;
        TVec.Store(c40, c); TVec.Store(c41, c + L); TVec.Store(c42, c + 2 * L); TVec.Store(c43, c + 3 * L); c += ldc;
        TVec.Store(c50, c); TVec.Store(c51, c + L); TVec.Store(c52, c + 2 * L); TVec.Store(c53, c + 3 * L);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile8x3<TVec>(float* x, int rs, int ps, float* y, int ldy, float* c, int ldc, int k, bool accumulate)
        where TVec : struct, IVec<TVec>
    {
        int L = TVec.Lanes;
        TVec c00, c01, c02, c10, c11, c12, c20, c21, c22, c30, c31, c32;
        TVec c40, c41, c42, c50, c51, c52, c60, c61, c62, c70, c71, c72;
        if (accumulate)
        {
            float* q = c;
            c00 = TVec.Load(q); c01 = TVec.Load(q + L); c02 = TVec.Load(q + 2 * L); q += ldc;
            c10 = TVec.Load(q); c11 = TVec.Load(q + L); c12 = TVec.Load(q + 2 * L); q += ldc;
            c20 = TVec.Load(q); c21 = TVec.Load(q + L); c22 = TVec.Load(q + 2 * L); q += ldc;
            c30 = TVec.Load(q); c31 = TVec.Load(q + L); c32 = TVec.Load(q + 2 * L); q += ldc;
            c40 = TVec.Load(q); c41 = TVec.Load(q + L); c42 = TVec.Load(q + 2 * L); q += ldc;
            c50 = TVec.Load(q); c51 = TVec.Load(q + L); c52 = TVec.Load(q + 2 * L); q += ldc;
            c60 = TVec.Load(q); c61 = TVec.Load(q + L); c62 = TVec.Load(q + 2 * L); q += ldc;
            c70 = TVec.Load(q); c71 = TVec.Load(q + L); c72 = TVec.Load(q + 2 * L);
        }
        else
        {
            c00 = c01 = c02 = c10 = c11 = c12 = c20 = c21 = c22 = c30 = c31 = c32 = TVec.Zero;
            c40 = c41 = c42 = c50 = c51 = c52 = c60 = c61 = c62 = c70 = c71 = c72 = TVec.Zero;
        }
        long r1 = rs, r2 = 2L * rs, r3 = 3L * rs, r4 = 4L * rs, r5 = 5L * rs, r6 = 6L * rs, r7 = 7L * rs;
        float* xp = x, yp = y;
        for (int p = 0; p < k; p++, xp += ps, yp += ldy)
        {
            var y0 = TVec.Load(yp); var y1 = TVec.Load(yp + L); var y2 = TVec.Load(yp + 2 * L);
            var b = TVec.Create(xp[0]);
            c00 = TVec.Fma(b, y0, c00); c01 = TVec.Fma(b, y1, c01); c02 = TVec.Fma(b, y2, c02);
            b = TVec.Create(xp[r1]);
            c10 = TVec.Fma(b, y0, c10); c11 = TVec.Fma(b, y1, c11); c12 = TVec.Fma(b, y2, c12);
            b = TVec.Create(xp[r2]);
            c20 = TVec.Fma(b, y0, c20); c21 = TVec.Fma(b, y1, c21); c22 = TVec.Fma(b, y2, c22);
            b = TVec.Create(xp[r3]);
            c30 = TVec.Fma(b, y0, c30); c31 = TVec.Fma(b, y1, c31); c32 = TVec.Fma(b, y2, c32);
            b = TVec.Create(xp[r4]);
            c40 = TVec.Fma(b, y0, c40); c41 = TVec.Fma(b, y1, c41); c42 = TVec.Fma(b, y2, c42);
            b = TVec.Create(xp[r5]);
            c50 = TVec.Fma(b, y0, c50); c51 = TVec.Fma(b, y1, c51); c52 = TVec.Fma(b, y2, c52);
            b = TVec.Create(xp[r6]);
            c60 = TVec.Fma(b, y0, c60); c61 = TVec.Fma(b, y1, c61); c62 = TVec.Fma(b, y2, c62);
            b = TVec.Create(xp[r7]);
            c70 = TVec.Fma(b, y0, c70); c71 = TVec.Fma(b, y1, c71); c72 = TVec.Fma(b, y2, c72);
        }
        TVec.Store(c00, c); TVec.Store(c01, c + L); TVec.Store(c02, c + 2 * L); c += ldc;
        TVec.Store(c10, c); TVec.Store(c11, c + L); TVec.Store(c12, c + 2 * L); c += ldc;
        TVec.Store(c20, c); TVec.Store(c21, c + L); TVec.Store(c22, c + 2 * L); c += ldc;
        TVec.Store(c30, c); TVec.Store(c31, c + L); TVec.Store(c32, c + 2 * L); c += ldc;
        TVec.Store(c40, c); TVec.Store(c41, c + L); TVec.Store(c42, c + 2 * L); c += ldc;
        TVec.Store(c50, c); TVec.Store(c51, c + L); TVec.Store(c52, c + 2 * L); c += ldc;
        TVec.Store(c60, c); TVec.Store(c61, c + L); TVec.Store(c62, c + 2 * L); c += ldc;
        TVec.Store(c70, c); TVec.Store(c71, c + L); TVec.Store(c72, c + 2 * L);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile6x2<TVec>(float* x, int rs, int ps, float* y, int ldy, float* c, int ldc, int k, bool accumulate)
        where TVec : struct, IVec<TVec>
    {
        int L = TVec.Lanes;
        TVec c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
        if (accumulate)
        {
            float* q = c;
            c00 = TVec.Load(q); c01 = TVec.Load(q + L); q += ldc;
            c10 = TVec.Load(q); c11 = TVec.Load(q + L); q += ldc;
            c20 = TVec.Load(q); c21 = TVec.Load(q + L); q += ldc;
            c30 = TVec.Load(q); c31 = TVec.Load(q + L); q += ldc;
            c40 = TVec.Load(q); c41 = TVec.Load(q + L); q += ldc;
            c50 = TVec.Load(q); c51 = TVec.Load(q + L);
        }
        else c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 = TVec.Zero;
        long r1 = rs, r2 = 2L * rs, r3 = 3L * rs, r4 = 4L * rs, r5 = 5L * rs;
        float* xp = x, yp = y;
        for (int p = 0; p < k; p++, xp += ps, yp += ldy)
        {
            var y0 = TVec.Load(yp); var y1 = TVec.Load(yp + L);
            var b = TVec.Create(xp[0]);
            c00 = TVec.Fma(b, y0, c00); c01 = TVec.Fma(b, y1, c01);
            b = TVec.Create(xp[r1]);
            c10 = TVec.Fma(b, y0, c10); c11 = TVec.Fma(b, y1, c11);
            b = TVec.Create(xp[r2]);
            c20 = TVec.Fma(b, y0, c20); c21 = TVec.Fma(b, y1, c21);
            b = TVec.Create(xp[r3]);
            c30 = TVec.Fma(b, y0, c30); c31 = TVec.Fma(b, y1, c31);
            b = TVec.Create(xp[r4]);
            c40 = TVec.Fma(b, y0, c40); c41 = TVec.Fma(b, y1, c41);
            b = TVec.Create(xp[r5]);
            c50 = TVec.Fma(b, y0, c50); c51 = TVec.Fma(b, y1, c51);
        }
        TVec.Store(c00, c); TVec.Store(c01, c + L); c += ldc;
        TVec.Store(c10, c); TVec.Store(c11, c + L); c += ldc;
        TVec.Store(c20, c); TVec.Store(c21, c + L); c += ldc;
        TVec.Store(c30, c); TVec.Store(c31, c + L); c += ldc;
        TVec.Store(c40, c); TVec.Store(c41, c + L); c += ldc;
        TVec.Store(c50, c); TVec.Store(c51, c + L);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile6x1<TVec>(float* x, int rs, int ps, float* y, int ldy, float* c, int ldc, int k, bool accumulate)
        where TVec : struct, IVec<TVec>
    {
        TVec c0, c1, c2, c3, c4, c5;
        if (accumulate)
        {
            c0 = TVec.Load(c); c1 = TVec.Load(c + ldc); c2 = TVec.Load(c + 2 * ldc);
            c3 = TVec.Load(c + 3 * ldc); c4 = TVec.Load(c + 4 * ldc); c5 = TVec.Load(c + 5 * ldc);
        }
        else c0 = c1 = c2 = c3 = c4 = c5 = TVec.Zero;
        long r1 = rs, r2 = 2L * rs, r3 = 3L * rs, r4 = 4L * rs, r5 = 5L * rs;
        float* xp = x, yp = y;
        for (int p = 0; p < k; p++, xp += ps, yp += ldy)
        {
            var y0 = TVec.Load(yp);
            c0 = TVec.Fma(TVec.Create(xp[0]), y0, c0);
            c1 = TVec.Fma(TVec.Create(xp[r1]), y0, c1);
            c2 = TVec.Fma(TVec.Create(xp[r2]), y0, c2);
            c3 = TVec.Fma(TVec.Create(xp[r3]), y0, c3);
            c4 = TVec.Fma(TVec.Create(xp[r4]), y0, c4);
            c5 = TVec.Fma(TVec.Create(xp[r5]), y0, c5);
        }
        TVec.Store(c0, c); TVec.Store(c1, c + ldc); TVec.Store(c2, c + 2 * ldc); TVec.Store(c3, c + 3 * ldc); TVec.Store(c4, c + 4 * ldc); TVec.Store(c5, c + 5 * ldc);
    }

    /// <summary>One output row of <paramref name="vecs"/> vectors (1 to 4): the rows left over by the tiles.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Row<TVec>(float* x, int ps, float* y, int ldy, float* c, int vecs, int k, bool accumulate)
        where TVec : struct, IVec<TVec>
    {
        int L = TVec.Lanes;
        var c0 = accumulate ? TVec.Load(c) : TVec.Zero;
        var c1 = accumulate && vecs > 1 ? TVec.Load(c + L) : TVec.Zero;
        var c2 = accumulate && vecs > 2 ? TVec.Load(c + 2 * L) : TVec.Zero;
        var c3 = accumulate && vecs > 3 ? TVec.Load(c + 3 * L) : TVec.Zero;
        for (int p = 0; p < k; p++)
        {
            var b = TVec.Create(x[(long)p * ps]);
            float* yp = y + (long)p * ldy;
            c0 = TVec.Fma(b, TVec.Load(yp), c0);
            if (vecs > 1) c1 = TVec.Fma(b, TVec.Load(yp + L), c1);
            if (vecs > 2) c2 = TVec.Fma(b, TVec.Load(yp + 2 * L), c2);
            if (vecs > 3) c3 = TVec.Fma(b, TVec.Load(yp + 3 * L), c3);
        }
        TVec.Store(c0, c);
        if (vecs > 1) TVec.Store(c1, c + L);
        if (vecs > 2) TVec.Store(c2, c + 2 * L);
        if (vecs > 3) TVec.Store(c3, c + 3 * L);
    }
}
