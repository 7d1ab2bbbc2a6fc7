using System.Runtime.CompilerServices;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static CrateMae.Kernels.SimdTensor;

namespace CrateMae.Kernels;

/// <summary>
/// Vector kernels (any width, <see cref="IVec{TSelf}"/>) for the element-wise work around the CRATE encoder's products. Without autograd (features, probes,
/// analysis; libtorch's ops otherwise):
/// <list type="bullet">
/// <item>LN(x) and the fused LN(x + r) — the half step Z + MSSA(LN₁(Z)) is only ever read by LN₂ (there is no
///   residual around ISTA), so at inference it need not be stored;</item>
/// <item>max(x − t, 0) in place — ISTA's threshold and ReLU in one pass.</item>
/// </list>
/// With autograd, LN of a bf16 activation (the CRATE stream, encoder and decoder) and its backward (<see cref="LayerNormFunction"/>).
/// Statistics are float32 and two-pass over the row held in L1 (mean, then Σ(x − mean)²); bf16 rows are widened on
/// load and rounded to nearest-even on store, as in libtorch's mixed-type kernel.
/// </summary>
/// <remarks>
/// Why: once the products run on AMX, libtorch's LayerNorm (Welford moments, then a second pass; a slow mixed-type
/// backward), the residual add and the threshold/ReLU passes took a quarter of a bf16 feature-extraction step of the
/// 32-px model and a tenth of a training step (docs/performance.md §2).
/// </remarks>
internal static unsafe class LayerNormSimd
{
    /// <summary>Row widths the kernel takes at <paramref name="bits"/>: whole vectors, at most 8,192.</summary>
    public static bool SupportsWidth(long d, int bits) => bits != 0 && d % LanesOf(bits) == 0 && d is > 0 and <= 8192;

    /// <summary>Whether LN over the last dimension of <paramref name="x"/> (plus <paramref name="residual"/>) with <paramref name="ln"/> can run at <paramref name="bits"/>.</summary>
    public static bool Supports(Tensor x, LayerNorm ln, int bits, Tensor? residual = null) =>
        !is_grad_enabled() && IsRowTensor(x, bits) && Fits(ln, x, bits)
        && (residual is null || (residual.dtype == x.dtype && residual.shape.SequenceEqual(x.shape) && IsRowTensor(residual, bits)));

    /// <summary>Whether the row width suits the kernels and <paramref name="ln"/> has contiguous float32 γ, β of that width beside x.</summary>
    private static bool Fits(LayerNorm ln, Tensor x, int bits) =>
        SupportsWidth(x.shape[^1], bits)
        && ln.weight is { } w && ln.bias is { } b && w.dtype == ScalarType.Float32 && b.dtype == ScalarType.Float32
        && w.is_contiguous() && b.is_contiguous() && w.numel() == x.shape[^1] && b.numel() == x.shape[^1]
        && w.device_type == x.device_type && b.device_type == x.device_type;

    /// <summary>
    /// LN(x), or LN(x + residual), with this kernel when it applies (fast path with the vector kernels on, no autograd;
    /// or the differentiable kernel, <see cref="SupportsTraining"/>) and libtorch's otherwise.
    /// </summary>
    public static Tensor Apply(LayerNorm ln, Tensor x, KernelOptions options, Tensor? residual = null)
    {
        int bits = options.VectorBits;
        if (bits != 0)
        {
            if (Supports(x, ln, bits, residual)) return Forward(x, ln, bits, residual);
            if (residual is null && SupportsTraining(x, ln, bits)) return LayerNormFunction.Of(x, ln, bits);
        }
        if (residual is null) return ln.forward(x);
        using var sum = x.add(residual);
        return ln.forward(sum);
    }

    /// <summary>x ← max(x − t, 0) in place with this kernel when it applies, with libtorch's ops otherwise; returns x.</summary>
    public static Tensor ShrinkInPlace(Tensor x, double t, KernelOptions options) =>
        SupportsThreshold(x, options.VectorBits) ? ThresholdRelu(x, t, options.VectorBits) : x.sub_(t).relu_();

    /// <summary>
    /// Smallest activation for the differentiable kernel. Measured (bf16 training, A/B): +4 % at [4160, 192] (32-px
    /// model, batch 64) and [1576, 576] (crate-small, batch 8), −4 % at [1600, 192] (crate-fmnist, batch 32), where the
    /// custom autograd function's fixed costs outweigh the faster backward.
    /// </summary>
    internal const long MinTrainingElements = 1L << 19;

    /// <summary>
    /// Whether the differentiable kernel (<see cref="LayerNormFunction"/>) takes LN of <paramref name="x"/>: a bf16
    /// activation (the CRATE stream) with autograd on — libtorch's mixed-type LN backward is the slow one.
    /// </summary>
    public static bool SupportsTraining(Tensor x, LayerNorm ln, int bits) =>
        is_grad_enabled() && x.dtype == ScalarType.BFloat16 && x.numel() >= MinTrainingElements && IsRowTensor(x, bits) && Fits(ln, x, bits);

    /// <summary>LN(x) of a bf16 tensor with float32 γ, β and its per-row mean and 1/σ (float32 [rows]) for the backward.</summary>
    public static (Tensor Y, Tensor Mean, Tensor Rstd) ForwardWithStats(Tensor x, Tensor gamma, Tensor beta, double eps, int bits) => bits switch
    {
        512 => ForwardWithStats<V512>(x, gamma, beta, eps),
        256 => ForwardWithStats<V256>(x, gamma, beta, eps),
        _ => ForwardWithStats<V128>(x, gamma, beta, eps),
    };

    private static (Tensor Y, Tensor Mean, Tensor Rstd) ForwardWithStats<TVec>(Tensor x, Tensor gamma, Tensor beta, double eps)
        where TVec : struct, IVec<TVec>
    {
        long d = x.shape[^1], rows = x.numel() / d;
        var y = empty_like(x);
        var mean = empty(rows, dtype: ScalarType.Float32, device: x.device);
        var rstd = empty(rows, dtype: ScalarType.Float32, device: x.device);
        float* w = (float*)Pointer(gamma);
        float* b = (float*)Pointer(beta);
        float* m = (float*)Pointer(mean);
        float* rs = (float*)Pointer(rstd);
        Run(rows, (r0, r1) => Rows<ushort, TVec>((ushort*)Pointer(x), null, w, b, (ushort*)Pointer(y), r0, r1, (int)d, (float)eps, m, rs));
        GC.KeepAlive(x);
        return (y, mean, rstd);
    }

    /// <summary>
    /// The LN backward for a bf16 input: dx = σ⁻¹(g − mean(g) − x̂·mean(g·x̂)) with g = dy·γ (bf16), and dγ = Σ dy·x̂,
    /// dβ = Σ dy over the rows (float32, per-part partial sums added at the end).
    /// </summary>
    public static (Tensor Dx, Tensor Dgamma, Tensor Dbeta) Backward(Tensor dy, Tensor x, Tensor mean, Tensor rstd, Tensor gamma, int bits) => bits switch
    {
        512 => Backward<V512>(dy, x, mean, rstd, gamma),
        256 => Backward<V256>(dy, x, mean, rstd, gamma),
        _ => Backward<V128>(dy, x, mean, rstd, gamma),
    };

    private static (Tensor Dx, Tensor Dgamma, Tensor Dbeta) Backward<TVec>(Tensor dy, Tensor x, Tensor mean, Tensor rstd, Tensor gamma)
        where TVec : struct, IVec<TVec>
    {
        long d = x.shape[^1], rows = x.numel() / d;
        var dx = empty_like(x);
        using var partial = zeros(Parts(rows), 2, d, dtype: ScalarType.Float32, device: x.device);   // per-part dγ, dβ
        float* pp = (float*)Pointer(partial);
        float* w = (float*)Pointer(gamma);
        float* m = (float*)Pointer(mean);
        float* rs = (float*)Pointer(rstd);
        ushort* px = (ushort*)Pointer(x), pdy = (ushort*)Pointer(dy), pdx = (ushort*)Pointer(dx);
        Run(rows, (k, r0, r1) => BackwardRows<TVec>(px, pdy, pdx, w, m, rs, pp + k * 2 * d, r0, r1, (int)d));
        GC.KeepAlive(x);
        GC.KeepAlive(dy);
        using var sums = partial.sum(dim: 0);                                      // [2, D]
        return (dx, sums[0].clone(), sums[1].clone());
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void BackwardRows<TVec>(ushort* x, ushort* dy, ushort* dx, float* gamma, float* mean, float* rstd, float* partial,
        long start, long end, int d) where TVec : struct, IVec<TVec>
    {
        int lanes = TVec.Lanes;
        int vecs = d / lanes;
        float* dgamma = partial, dbeta = partial + d;
        float invD = 1f / d;
        for (long r = start; r < end; r++)
        {
            ushort* xr = x + r * d, gr = dy + r * d, dr = dx + r * d;
            var mu = TVec.Create(mean[r]);
            var rs = TVec.Create(rstd[r]);
            var sumG = TVec.Zero;
            var sumGx = TVec.Zero;
            for (int v = 0; v < vecs; v++)
            {
                var xh = (Vec.Load<ushort, TVec>(xr + v * lanes) - mu) * rs;
                var g = Vec.Load<ushort, TVec>(gr + v * lanes);
                var gw = g * TVec.Load(gamma + v * lanes);
                sumG += gw;
                sumGx = TVec.Fma(gw, xh, sumGx);
                TVec.Store(TVec.Fma(g, xh, TVec.Load(dgamma + v * lanes)), dgamma + v * lanes);
                TVec.Store(TVec.Load(dbeta + v * lanes) + g, dbeta + v * lanes);
            }
            var a = TVec.Create(TVec.Sum(sumG) * invD);
            var b = TVec.Create(TVec.Sum(sumGx) * invD);
            for (int v = 0; v < vecs; v++)
            {
                var xh = (Vec.Load<ushort, TVec>(xr + v * lanes) - mu) * rs;
                var gw = Vec.Load<ushort, TVec>(gr + v * lanes) * TVec.Load(gamma + v * lanes);
                Vec.Store(dr + v * lanes, (gw - a - xh * b) * rs);
            }
        }
    }

    /// <summary>LN(x) or LN(x + residual) over the last dimension, in the dtype of x (a new tensor).</summary>
    public static Tensor Forward(Tensor x, LayerNorm ln, int bits, Tensor? residual = null) => bits switch
    {
        512 => Forward<V512>(x, ln, residual),
        256 => Forward<V256>(x, ln, residual),
        _ => Forward<V128>(x, ln, residual),
    };

    private static Tensor Forward<TVec>(Tensor x, LayerNorm ln, Tensor? residual) where TVec : struct, IVec<TVec>
    {
        var y = empty_like(x);
        long d = x.shape[^1], rows = x.numel() / d;
        float eps = (float)ln.eps;
        float* w = (float*)Pointer(ln.weight!);
        float* b = (float*)Pointer(ln.bias!);
        if (x.dtype == ScalarType.Float32)
        {
            float* r = residual is null ? null : (float*)Pointer(residual);
            Run(rows, (r0, r1) => Rows<float, TVec>((float*)Pointer(x), r, w, b, (float*)Pointer(y), r0, r1, (int)d, eps));
        }
        else
        {
            ushort* r = residual is null ? null : (ushort*)Pointer(residual);
            Run(rows, (r0, r1) => Rows<ushort, TVec>((ushort*)Pointer(x), r, w, b, (ushort*)Pointer(y), r0, r1, (int)d, eps));
        }
        GC.KeepAlive(x);
        GC.KeepAlive(residual);
        GC.KeepAlive(ln);
        return y;
    }

    /// <summary>Whether <see cref="ThresholdRelu"/> can run on <paramref name="x"/> at <paramref name="bits"/> (inference only).</summary>
    public static bool SupportsThreshold(Tensor x, int bits) => IsRowTensor(x, bits) && x.numel() % LanesOf(bits) == 0 && !is_grad_enabled();

    /// <summary>x ← max(x − t, 0) in place (ISTA's −ηλ and ReLU in one pass); returns x.</summary>
    public static Tensor ThresholdRelu(Tensor x, double t, int bits) => bits switch
    {
        512 => ThresholdRelu<V512>(x, t),
        256 => ThresholdRelu<V256>(x, t),
        _ => ThresholdRelu<V128>(x, t),
    };

    private static Tensor ThresholdRelu<TVec>(Tensor x, double t) where TVec : struct, IVec<TVec>
    {
        long vectors = x.numel() / TVec.Lanes;
        float tf = (float)t;
        if (x.dtype == ScalarType.Float32) Run(vectors, (v0, v1) => Threshold<float, TVec>((float*)Pointer(x), v0, v1, tf));
        else Run(vectors, (v0, v1) => Threshold<ushort, TVec>((ushort*)Pointer(x), v0, v1, tf));
        GC.KeepAlive(x);
        return x;
    }

    /// <summary>max(x − t, 0) over whole vectors.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Threshold<T, TVec>(T* x, long start, long end, float t) where T : unmanaged where TVec : struct, IVec<TVec>
    {
        int lanes = TVec.Lanes;
        var vt = TVec.Create(t);
        for (long v = start; v < end; v++)
        {
            T* p = x + v * lanes;
            Vec.Store(p, TVec.Max(Vec.Load<T, TVec>(p) - vt, TVec.Zero));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Rows<T, TVec>(T* x, T* residual, float* gamma, float* beta, T* y, long start, long end, int d, float eps,
        float* meanOut = null, float* rstdOut = null) where T : unmanaged where TVec : struct, IVec<TVec>
    {
        int lanes = TVec.Lanes;
        int vecs = d / lanes;
        float* buf = stackalloc float[d];
        float invD = 1f / d;
        for (long r = start; r < end; r++)
        {
            T* xr = x + r * d;
            var sum = TVec.Zero;
            if (residual == null)
            {
                for (int v = 0; v < vecs; v++)
                {
                    var a = Vec.Load<T, TVec>(xr + v * lanes);
                    TVec.Store(a, buf + v * lanes);
                    sum += a;
                }
            }
            else
            {
                T* rr = residual + r * d;
                for (int v = 0; v < vecs; v++)
                {
                    var a = Vec.Load<T, TVec>(xr + v * lanes) + Vec.Load<T, TVec>(rr + v * lanes);
                    TVec.Store(a, buf + v * lanes);
                    sum += a;
                }
            }
            var mean = TVec.Create(TVec.Sum(sum) * invD);
            var sq = TVec.Zero;
            for (int v = 0; v < vecs; v++)
            {
                var c = TVec.Load(buf + v * lanes) - mean;
                sq = TVec.Fma(c, c, sq);
            }
            float rstdS = 1f / MathF.Sqrt(TVec.Sum(sq) * invD + eps);
            var rstd = TVec.Create(rstdS);
            if (meanOut != null) { meanOut[r] = TVec.First(mean); rstdOut[r] = rstdS; }
            T* yr = y + r * d;
            for (int v = 0; v < vecs; v++)
            {
                var c = (TVec.Load(buf + v * lanes) - mean) * rstd;
                Vec.Store(yr + v * lanes, TVec.Fma(c, TVec.Load(gamma + v * lanes), TVec.Load(beta + v * lanes)));
            }
        }
    }
}
