namespace CrateMae.Analysis;

/// <summary>
/// Foreground concentration of cls attention over a set of images (see <see cref="AttentionSaliency.ForegroundRatio"/>).
/// </summary>
/// <param name="Mean">Mean of the per-image ratios over the used images; NaN when no image could be used.</param>
/// <param name="Std">Unbiased std of the per-image ratios (0 with a single image, NaN with none).</param>
/// <param name="Images">Number of images used.</param>
/// <param name="Skipped">Images skipped because their foreground share was 0 or 1 (the ratio is undefined) or their saliency summed to 0.</param>
/// <param name="PerImage">Ratio of every image in input order; NaN for skipped images.</param>
public sealed record ForegroundRatioResult(double Mean, double Std, int Images, int Skipped, IReadOnlyList<double> PerImage);
