using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static CrateMae.Models.SimdTensor;

namespace CrateMae.Models;

/// <summary>
/// AVX-512 kernels for the element-wise work around the CRATE encoder's products. Without autograd (features, probes,
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
    /// <summary>Widths the kernel takes: whole vectors, at most 8,192.</summary>
    public static bool SupportsWidth(long d) => d % Lanes == 0 && d is > 0 and <= 8192;

    /// <summary>Whether LN over the last dimension of <paramref name="x"/> (plus <paramref name="residual"/>) with <paramref name="ln"/> can run here.</summary>
    public static bool Supports(Tensor x, LayerNorm ln, Tensor? residual = null) =>
        !is_grad_enabled() && IsRowTensor(x) && Fits(ln, x)
        && (residual is null || (residual.dtype == x.dtype && residual.shape.SequenceEqual(x.shape) && IsRowTensor(residual)));

    /// <summary>Whether the row width suits the kernels and <paramref name="ln"/> has contiguous float32 γ, β of that width beside x.</summary>
    private static bool Fits(LayerNorm ln, Tensor x) =>
        SupportsWidth(x.shape[^1])
        && ln.weight is { } w && ln.bias is { } b && w.dtype == ScalarType.Float32 && b.dtype == ScalarType.Float32
        && w.is_contiguous() && b.is_contiguous() && w.numel() == x.shape[^1] && b.numel() == x.shape[^1]
        && w.device_type == x.device_type && b.device_type == x.device_type;

    /// <summary>
    /// LN(x), or LN(x + residual), with this kernel when it applies (fast path, no autograd) and libtorch's otherwise.
    /// </summary>
    public static Tensor Apply(LayerNorm ln, Tensor x, Tensor? residual = null)
    {
        if (!Kernels.Reference)
        {
            if (Supports(x, ln, residual)) return Forward(x, ln, residual);
            if (residual is null && SupportsTraining(x, ln)) return LayerNormFunction.Of(x, ln);
        }
        if (residual is null) return ln.forward(x);
        using var sum = x.add(residual);
        return ln.forward(sum);
    }

    /// <summary>x ← max(x − t, 0) in place with this kernel when it applies, with libtorch's ops otherwise; returns x.</summary>
    public static Tensor ShrinkInPlace(Tensor x, double t) =>
        !Kernels.Reference && SupportsThreshold(x) ? ThresholdRelu(x, t) : x.sub_(t).relu_();

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
    public static bool SupportsTraining(Tensor x, LayerNorm ln) =>
        is_grad_enabled() && x.dtype == ScalarType.BFloat16 && x.numel() >= MinTrainingElements && IsRowTensor(x) && Fits(ln, x);

    /// <summary>LN(x) of a bf16 tensor with float32 γ, β and its per-row mean and 1/σ (float32 [rows]) for the backward.</summary>
    public static (Tensor Y, Tensor Mean, Tensor Rstd) ForwardWithStats(Tensor x, Tensor gamma, Tensor beta, double eps)
    {
        long d = x.shape[^1], rows = x.numel() / d;
        var y = empty_like(x);
        var mean = empty(rows, dtype: ScalarType.Float32, device: x.device);
        var rstd = empty(rows, dtype: ScalarType.Float32, device: x.device);
        float* w = (float*)Pointer(gamma);
        float* b = (float*)Pointer(beta);
        float* m = (float*)Pointer(mean);
        float* rs = (float*)Pointer(rstd);
        Run(rows, (r0, r1) => Rows((ushort*)Pointer(x), null, w, b, (ushort*)Pointer(y), r0, r1, (int)d, (float)eps, m, rs));
        GC.KeepAlive(x);
        return (y, mean, rstd);
    }

    /// <summary>
    /// The LN backward for a bf16 input: dx = σ⁻¹(g − mean(g) − x̂·mean(g·x̂)) with g = dy·γ (bf16), and dγ = Σ dy·x̂,
    /// dβ = Σ dy over the rows (float32, per-part partial sums added at the end).
    /// </summary>
    public static (Tensor Dx, Tensor Dgamma, Tensor Dbeta) Backward(Tensor dy, Tensor x, Tensor mean, Tensor rstd, Tensor gamma)
    {
        long d = x.shape[^1], rows = x.numel() / d;
        var dx = empty_like(x);
        using var partial = zeros(Parts(rows), 2, d, dtype: ScalarType.Float32, device: x.device);   // per-part dγ, dβ
        float* pp = (float*)Pointer(partial);
        float* w = (float*)Pointer(gamma);
        float* m = (float*)Pointer(mean);
        float* rs = (float*)Pointer(rstd);
        ushort* px = (ushort*)Pointer(x), pdy = (ushort*)Pointer(dy), pdx = (ushort*)Pointer(dx);
        Run(rows, (k, r0, r1) => BackwardRows(px, pdy, pdx, w, m, rs, pp + k * 2 * d, r0, r1, (int)d));
        GC.KeepAlive(x);
        GC.KeepAlive(dy);
        using var sums = partial.sum(dim: 0);                                      // [2, D]
        return (dx, sums[0].clone(), sums[1].clone());
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void BackwardRows(ushort* x, ushort* dy, ushort* dx, float* gamma, float* mean, float* rstd, float* partial,
        long start, long end, int d)
    {
        int vecs = d / Lanes;
        float* dgamma = partial, dbeta = partial + d;
        float invD = 1f / d;
        for (long r = start; r < end; r++)
        {
            ushort* xr = x + r * d, gr = dy + r * d, dr = dx + r * d;
            var mu = Vector512.Create(mean[r]);
            var rs = Vector512.Create(rstd[r]);
            var sumG = Vector512<float>.Zero;
            var sumGx = Vector512<float>.Zero;
            for (int v = 0; v < vecs; v++)
            {
                var xh = (Load(xr + v * Lanes) - mu) * rs;
                var g = Load(gr + v * Lanes);
                var gw = g * Vector512.Load(gamma + v * Lanes);
                sumG += gw;
                sumGx = Vector512.FusedMultiplyAdd(gw, xh, sumGx);
                Vector512.FusedMultiplyAdd(g, xh, Vector512.Load(dgamma + v * Lanes)).Store(dgamma + v * Lanes);
                (Vector512.Load(dbeta + v * Lanes) + g).Store(dbeta + v * Lanes);
            }
            var a = Vector512.Create(Vector512.Sum(sumG) * invD);
            var b = Vector512.Create(Vector512.Sum(sumGx) * invD);
            for (int v = 0; v < vecs; v++)
            {
                var xh = (Load(xr + v * Lanes) - mu) * rs;
                var gw = Load(gr + v * Lanes) * Vector512.Load(gamma + v * Lanes);
                Store(dr + v * Lanes, (gw - a - xh * b) * rs);
            }
        }
    }

    /// <summary>LN(x) or LN(x + residual) over the last dimension, in the dtype of x (a new tensor).</summary>
    public static Tensor Forward(Tensor x, LayerNorm ln, Tensor? residual = null)
    {
        var y = empty_like(x);
        long d = x.shape[^1], rows = x.numel() / d;
        float eps = (float)ln.eps;
        float* w = (float*)Pointer(ln.weight!);
        float* b = (float*)Pointer(ln.bias!);
        if (x.dtype == ScalarType.Float32)
        {
            float* r = residual is null ? null : (float*)Pointer(residual);
            Run(rows, (r0, r1) => Rows((float*)Pointer(x), r, w, b, (float*)Pointer(y), r0, r1, (int)d, eps));
        }
        else
        {
            ushort* r = residual is null ? null : (ushort*)Pointer(residual);
            Run(rows, (r0, r1) => Rows((ushort*)Pointer(x), r, w, b, (ushort*)Pointer(y), r0, r1, (int)d, eps));
        }
        GC.KeepAlive(x);
        GC.KeepAlive(residual);
        GC.KeepAlive(ln);
        return y;
    }

    /// <summary>Whether <see cref="ThresholdRelu"/> can run on <paramref name="x"/> (inference only).</summary>
    public static bool SupportsThreshold(Tensor x) => IsRowTensor(x) && x.numel() % Lanes == 0 && !is_grad_enabled();

    /// <summary>x ← max(x − t, 0) in place (ISTA's −ηλ and ReLU in one pass); returns x.</summary>
    public static Tensor ThresholdRelu(Tensor x, double t)
    {
        long vectors = x.numel() / Lanes;
        float tf = (float)t;
        if (x.dtype == ScalarType.Float32) Run(vectors, (v0, v1) => Threshold((float*)Pointer(x), v0, v1, tf));
        else Run(vectors, (v0, v1) => Threshold((ushort*)Pointer(x), v0, v1, tf));
        GC.KeepAlive(x);
        return x;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Threshold<T>(T* x, long start, long end, float t) where T : unmanaged
    {
        var vt = Vector512.Create(t);
        for (long v = start; v < end; v++)
        {
            T* p = x + v * Lanes;
            Store(p, Avx512F.Max(Load(p) - vt, Vector512<float>.Zero));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Rows<T>(T* x, T* residual, float* gamma, float* beta, T* y, long start, long end, int d, float eps,
        float* meanOut = null, float* rstdOut = null) where T : unmanaged
    {
        int vecs = d / Lanes;
        float* buf = stackalloc float[d];
        float invD = 1f / d;
        for (long r = start; r < end; r++)
        {
            T* xr = x + r * d;
            var sum = Vector512<float>.Zero;
            if (residual == null)
            {
                for (int v = 0; v < vecs; v++)
                {
                    var a = Load(xr + v * Lanes);
                    a.Store(buf + v * Lanes);
                    sum += a;
                }
            }
            else
            {
                T* rr = residual + r * d;
                for (int v = 0; v < vecs; v++)
                {
                    var a = Load(xr + v * Lanes) + Load(rr + v * Lanes);
                    a.Store(buf + v * Lanes);
                    sum += a;
                }
            }
            var mean = Vector512.Create(Vector512.Sum(sum) * invD);
            var sq = Vector512<float>.Zero;
            for (int v = 0; v < vecs; v++)
            {
                var c = Vector512.Load(buf + v * Lanes) - mean;
                sq = Vector512.FusedMultiplyAdd(c, c, sq);
            }
            float rstdS = 1f / MathF.Sqrt(Vector512.Sum(sq) * invD + eps);
            var rstd = Vector512.Create(rstdS);
            if (meanOut != null) { meanOut[r] = mean.ToScalar(); rstdOut[r] = rstdS; }
            T* yr = y + r * d;
            for (int v = 0; v < vecs; v++)
            {
                var c = (Vector512.Load(buf + v * Lanes) - mean) * rstd;
                Store(yr + v * Lanes, Vector512.FusedMultiplyAdd(c, Vector512.Load(gamma + v * Lanes), Vector512.Load(beta + v * Lanes)));
            }
        }
    }
}
