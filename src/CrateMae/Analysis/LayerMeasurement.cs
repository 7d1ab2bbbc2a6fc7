namespace CrateMae.Analysis;

/// <summary>Raw per-sample white-box measurements of one encoder layer on one batch.</summary>
/// <param name="Layer">Layer index ℓ, 1-based (ℓ = 1 … L, as in the plots).</param>
/// <param name="CodingRates">R^c of the layer's MSSA input projection LN₁(Z^ℓ)·[U_1 … U_K], one value per image (spec §7.1).</param>
/// <param name="ZeroFractions">Fraction of exactly-zero entries of the block output Z^{ℓ+1}, one value per image (spec §7.2).</param>
public sealed record LayerMeasurement(int Layer, IReadOnlyList<double> CodingRates, IReadOnlyList<double> ZeroFractions);
