using System.Text.Json.Serialization;

namespace CrateMae.Analysis;

/// <summary>Batch statistics of one encoder layer (one entry of <see cref="WhiteBoxReport.Layers"/>).</summary>
/// <param name="Layer">Layer index ℓ, 1-based.</param>
/// <param name="CodingRateMean">Mean over images of R^c of the layer's MSSA input projection (spec §7.1).</param>
/// <param name="CodingRateStd">Unbiased std over images of that R^c.</param>
/// <param name="SparsityMean">
/// Mean normalised ℓ⁰ density ‖Z^{ℓ+1}‖₀/(N·D) = 1 − mean zero fraction of the block output — the quantity the
/// reference "sparsity" plot shows (lower = sparser; spec §7.2).
/// </param>
/// <param name="SparsityStd">Unbiased std over images of the zero fraction (equal to that of the density); the plot's error bars.</param>
/// <param name="ZeroFractionMean">Mean fraction of exactly-zero entries of the block output (= 1 − <paramref name="SparsityMean"/>).</param>
/// <param name="ForegroundRatioMean">
/// Mean over images of the cls-attention foreground ratio of the block (head-averaged cls row of the block's attention:
/// share of attention on foreground patches / share of foreground patches; <see cref="AttentionSaliency.ForegroundRatio"/>);
/// null when no image had both foreground and background patches, or when not measured.
/// </param>
/// <param name="ForegroundRatioStd">Unbiased std over images of that ratio; null with the mean.</param>
public sealed record LayerStatistics(
    [property: JsonPropertyName("layer")] int Layer,
    [property: JsonPropertyName("coding_rate_mean")] double CodingRateMean,
    [property: JsonPropertyName("coding_rate_std")] double CodingRateStd,
    [property: JsonPropertyName("sparsity_mean")] double SparsityMean,
    [property: JsonPropertyName("sparsity_std")] double SparsityStd,
    [property: JsonPropertyName("zero_fraction_mean")] double ZeroFractionMean,
    [property: JsonPropertyName("foreground_ratio_mean")] double? ForegroundRatioMean = null,
    [property: JsonPropertyName("foreground_ratio_std")] double? ForegroundRatioStd = null);
