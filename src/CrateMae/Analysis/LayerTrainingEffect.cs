namespace CrateMae.Analysis;

/// <summary>
/// One encoder layer ℓ of a <see cref="TrainingEffect"/>: the trained model's mean next to the random init's, over
/// the same images, and their differences Δ = trained − random (relative: Δ / |random|).
/// </summary>
/// <param name="Layer">Layer index ℓ, 1-based.</param>
/// <param name="CodingRateTrained">Mean R^c of the trained model (spec §7.1).</param>
/// <param name="CodingRateRandom">Mean R^c of the random init.</param>
/// <param name="DensityTrained">Mean ℓ⁰ density of the trained model's block output (lower = sparser, spec §7.2).</param>
/// <param name="DensityRandom">Mean ℓ⁰ density of the random init's block output.</param>
/// <param name="ForegroundRatioTrained">Mean cls-attention foreground ratio of the trained model; null when not available.</param>
/// <param name="ForegroundRatioRandom">Mean cls-attention foreground ratio of the random init; null when not available.</param>
public sealed record LayerTrainingEffect(
    int Layer,
    double CodingRateTrained,
    double CodingRateRandom,
    double DensityTrained,
    double DensityRandom,
    double? ForegroundRatioTrained,
    double? ForegroundRatioRandom)
{
    /// <summary>ΔR^c = trained − random.</summary>
    public double CodingRateChange => CodingRateTrained - CodingRateRandom;

    /// <summary>ΔR^c / |R^c of the random init| (see <see cref="Relative"/>).</summary>
    public double CodingRateRelativeChange => Relative(CodingRateTrained, CodingRateRandom);

    /// <summary>Δ ℓ⁰ density = trained − random (negative = training made the output sparser).</summary>
    public double DensityChange => DensityTrained - DensityRandom;

    /// <summary>Δ ℓ⁰ density / |ℓ⁰ density of the random init| (see <see cref="Relative"/>).</summary>
    public double DensityRelativeChange => Relative(DensityTrained, DensityRandom);

    /// <summary>Δ foreground ratio = trained − random; null unless both are known.</summary>
    public double? ForegroundRatioChange => ForegroundRatioTrained - ForegroundRatioRandom;

    /// <summary>Δ foreground ratio / |random|; null unless both are known.</summary>
    public double? ForegroundRatioRelativeChange =>
        ForegroundRatioTrained is { } t && ForegroundRatioRandom is { } r ? Relative(t, r) : null;

    /// <summary>
    /// (trained − random) / |random|; when random is 0: 0 if trained is 0 too, otherwise ±∞ (the sign of the change).
    /// </summary>
    public static double Relative(double trained, double random) =>
        random != 0 ? (trained - random) / Math.Abs(random)
        : trained == random ? 0
        : trained > random ? double.PositiveInfinity : double.NegativeInfinity;
}
