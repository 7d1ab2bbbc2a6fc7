using static TorchSharp.torch;

namespace CrateMae.Analysis;

/// <summary>
/// The compression term R^c exactly as the reference hook measures it (spec §7.1): projections
/// A = LN₁(Z^ℓ)·[U_1 … U_K] are split into K heads of width d_h, every token's head vector is scaled to unit ℓ₂ norm
/// (â = a/‖a‖), and per sample and head R_k = logdet(I + (d_h/(N·ε))·ÂᵀÂ), R^c = ½ Σ_k R_k.
/// </summary>
/// <remarks>
/// The d_h×d_h form logdet(I_{d_h} + cÂᵀÂ) equals the reference's N×N form logdet(I_N + cÂÂᵀ) (Sylvester) and is
/// cheaper. Everything is evaluated in float64; the log-determinant comes from a Cholesky factor, which always exists
/// because I + cÂᵀÂ is symmetric with eigenvalues ≥ 1. The reference ε = 0.01 plays the role of the paper's ε².
/// N counts every token handed in (cls included on the feature path).
/// </remarks>
public static class CodingRate
{
    /// <summary>The reference quantisation parameter ε = 0.01 (the paper's ε² with ε = 0.1).</summary>
    public const double DefaultEpsilon = 0.01;

    /// <summary>
    /// Norms below this are treated as zero vectors: such a token's head vector is left as (almost) zero instead of
    /// being divided by zero (the same guard as PyTorch's <c>F.normalize</c>, eps 1e-12). A zero token adds nothing to ÂᵀÂ.
    /// </summary>
    public const double NormFloor = 1e-12;

    /// <summary>
    /// Per-sample, per-head log-determinants R_k: projections [B, N, K·d_h] → float64 [B, K].
    /// </summary>
    /// <param name="projections">Projected tokens [B, N, K·d_h], any floating dtype, any device.</param>
    /// <param name="heads">Number of heads K; the last dimension must be divisible by it.</param>
    /// <param name="epsilon">ε (&gt; 0), default 0.01.</param>
    /// <exception cref="ArgumentException">Wrong rank, empty dimensions, width not divisible by K, bad ε or non-finite input.</exception>
    public static Tensor HeadLogDets(Tensor projections, int heads, double epsilon = DefaultEpsilon)
    {
        ArgumentNullException.ThrowIfNull(projections);
        if (projections.dim() != 3)
            throw new ArgumentException($"projections must be [B, N, K·d_h], got [{string.Join(", ", projections.shape)}]", nameof(projections));
        if (heads <= 0) throw new ArgumentException($"heads must be positive, got {heads}", nameof(heads));
        if (!(epsilon > 0) || !double.IsFinite(epsilon)) throw new ArgumentException($"epsilon must be a positive number, got {epsilon}", nameof(epsilon));
        long b = projections.shape[0], n = projections.shape[1], width = projections.shape[2];
        if (b == 0 || n == 0 || width == 0)
            throw new ArgumentException($"projections have an empty dimension: [{string.Join(", ", projections.shape)}]", nameof(projections));
        if (width % heads != 0)
            throw new ArgumentException($"projection width {width} is not divisible by {heads} heads", nameof(projections));
        if (!projections.is_floating_point())
            throw new ArgumentException($"projections must be floating point, got {projections.dtype}", nameof(projections));

        using var scope = NewDisposeScope();
        long dh = width / heads;
        var a = projections.detach().to(ScalarType.Float64);
        if (!a.isfinite().all().item<bool>())
            throw new ArgumentException("projections contain NaN or infinite values", nameof(projections));
        var perHead = a.view(b, n, heads, dh).transpose(1, 2);                                  // [B, K, N, d_h]
        var norms = perHead.square().sum(-1, keepdim: true).sqrt().clamp_min(NormFloor);
        var unit = perHead / norms;                                                              // Â, rows of unit length
        var gram = unit.transpose(-1, -2).matmul(unit);                                          // ÂᵀÂ [B, K, d_h, d_h]
        double c = dh / (n * epsilon);
        var m = eye(dh, dtype: ScalarType.Float64, device: a.device) + gram * c;                 // I + cÂᵀÂ
        var chol = linalg.cholesky(m);
        var logdet = chol.diagonal(0, -2, -1).log().sum(-1) * 2.0;                               // [B, K]
        return logdet.MoveToOuterDisposeScope();
    }

    /// <summary>R^c per sample: ½ Σ_k R_k, for projections [B, N, K·d_h] → B values.</summary>
    /// <inheritdoc cref="HeadLogDets" path="/exception"/>
    public static double[] PerSample(Tensor projections, int heads, double epsilon = DefaultEpsilon)
    {
        using var perHead = HeadLogDets(projections, heads, epsilon);
        using var total = perHead.sum(-1) * 0.5;
        using var cpu = total.cpu();
        return cpu.data<double>().ToArray();
    }

    /// <summary>Mean and unbiased std over the batch of <see cref="PerSample"/>.</summary>
    public static SampleStatistics Measure(Tensor projections, int heads, double epsilon = DefaultEpsilon) =>
        SampleStatistics.Of(PerSample(projections, heads, epsilon));
}
