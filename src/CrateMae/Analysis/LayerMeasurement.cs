namespace CrateMae.Analysis;

/// <summary>Raw per-sample white-box measurements of one encoder layer on one batch.</summary>
/// <param name="Layer">Layer index ℓ, 1-based (ℓ = 1 … L, as in the plots).</param>
/// <param name="CodingRates">R^c of the layer's MSSA input projection LN₁(Z^ℓ)·[U_1 … U_K], one value per image (spec §7.1).</param>
/// <param name="ZeroFractions">Fraction of exactly-zero entries of the block output Z^{ℓ+1}, one value per image (spec §7.2).</param>
/// <param name="ForegroundRatios">
/// Cls-attention foreground ratio of the block, one value per image: (share of the head-averaged cls row of the
/// block's attention on foreground patches) / (share of foreground patches); NaN for an image that is all foreground
/// or all background (<see cref="AttentionSaliency.ForegroundRatio"/>).
/// </param>
public sealed record LayerMeasurement(int Layer, IReadOnlyList<double> CodingRates, IReadOnlyList<double> ZeroFractions,
    IReadOnlyList<double> ForegroundRatios);
