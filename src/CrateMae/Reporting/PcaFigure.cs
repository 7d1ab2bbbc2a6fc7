using System.Text.Json;
using System.Text.Json.Serialization;
using CrateMae.Analysis;
using CrateMae.IO;
using static TorchSharp.torch;

namespace CrateMae.Reporting;

/// <summary>What <c>crate-mae pca</c> reports: the fit and the figure.</summary>
/// <param name="Layer">Encoder block, 1 … depth (as <c>--layer</c> counts).</param>
/// <param name="Components">Number of fitted components k.</param>
/// <param name="FirstComponent">First component shown as red (then green, blue), 0-based.</param>
/// <param name="Descriptors">Patch descriptors the PCA was fitted on.</param>
/// <param name="ExplainedVarianceRatio">Share of the total variance along each component.</param>
/// <param name="Figure">The PNG written.</param>
/// <param name="Shown">Names of the images, one row each.</param>
public sealed record PcaSummary(
    [property: JsonPropertyName("layer")] int Layer,
    [property: JsonPropertyName("components")] int Components,
    [property: JsonPropertyName("first_component")] int FirstComponent,
    [property: JsonPropertyName("descriptors")] int Descriptors,
    [property: JsonPropertyName("explained_variance_ratio")] IReadOnlyList<double> ExplainedVarianceRatio,
    [property: JsonPropertyName("figure")] string Figure,
    [property: JsonPropertyName("shown")] IReadOnlyList<string> Shown)
{
    /// <summary>Indented JSON.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, AttentionSummary.Options);

    /// <summary>Writes <see cref="ToJson"/> atomically.</summary>
    public void Save(string path) => AtomicFile.WriteAllText(path, ToJson() + "\n");
}

/// <summary>
/// <c>crate-mae pca</c> (spec §7.5): PCA of one encoder block's patch descriptors (its attention input projection,
/// cls removed, unmasked path) fitted over all given images together; per image the RGB composite of three
/// components and every component in grey, as one PNG.
/// </summary>
public static class PcaFigure
{
    /// <summary>Fits, projects and renders.</summary>
    /// <param name="path">Output PNG.</param>
    /// <param name="probe">Probe of the model.</param>
    /// <param name="batch">The images (all are used for the fit).</param>
    /// <param name="blockNumber">Encoder block, 1 … depth (as <c>--layer</c> counts).</param>
    /// <param name="components">k (spec default 4).</param>
    /// <param name="firstComponent">Components firstComponent … +2 form the RGB image (0 = first three; 1 with k = 4 = the reference's last three).</param>
    /// <param name="foregroundOnly">Fit on foreground patches only and push background patches below every foreground value (spec §7.5 step 3–4).</param>
    /// <exception cref="ArgumentException">The block number is outside 1 … depth, k or the first component do not fit, or there are too few descriptors.</exception>
    public static PcaSummary Save(string path, LayerProbe probe, ImageBatch batch, int blockNumber, int components = 4, int firstComponent = 0,
        bool foregroundOnly = false)
    {
        ArgumentNullException.ThrowIfNull(probe);
        ArgumentNullException.ThrowIfNull(batch);
        if (components < 3) throw new ArgumentException($"--components must be at least 3 (an RGB image needs three), got {components}");
        if (firstComponent < 0 || firstComponent + 3 > components)
            throw new ArgumentException($"--first-component {firstComponent} needs components {firstComponent}…{firstComponent + 2}, but only {components} are fitted (0 … {components - 1})");
        var c = probe.Model.Config;
        int gh = (int)batch.Images.shape[2] / c.PatchSize, gw = (int)batch.Images.shape[3] / c.PatchSize;
        using var scope = NewDisposeScope();
        var descriptors = probe.PatchDescriptors(batch.Images, blockNumber).cpu();             // [B, L, D]
        Tensor? fg = foregroundOnly ? AttentionSaliency.ForegroundMask(batch.Images, c.PatchSize) : null;
        var pca = PatchPca.Fit(descriptors, components, fg);
        var grid = pca.ProjectGrid(descriptors, gh, gw, fg);
        var normalized = PatchPca.MinMaxNormalize(grid);
        var rgb = PatchPca.Rgb(normalized, firstComponent);
        PcaPanelImage.Save(path, batch.Images, rgb, normalized, mean: batch.Mean, std: batch.Std,
            rgbCaption: $"RGB = PC {firstComponent + 1}-{firstComponent + 3}");
        return new PcaSummary(blockNumber, components, firstComponent, pca.Samples, pca.ExplainedVarianceRatio, Path.GetFullPath(path), batch.Names);
    }
}
