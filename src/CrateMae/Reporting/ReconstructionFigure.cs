using System.Text.Json;
using System.Text.Json.Serialization;
using CrateMae.Analysis;
using CrateMae.IO;
using CrateMae.Training;
using static TorchSharp.torch;

namespace CrateMae.Reporting;

/// <summary>What <c>crate-mae reconstruct</c> reports.</summary>
/// <param name="MaskRatio">Fraction of patches removed.</param>
/// <param name="Seed">Seed of the masking noise.</param>
/// <param name="Loss">Masked-patch loss over the shown images (normalised pixels, norm-pix targets if the model uses them).</param>
/// <param name="Figure">The PNG written.</param>
/// <param name="Shown">Image names, one row each.</param>
public sealed record ReconstructionSummary(
    [property: JsonPropertyName("mask_ratio")] double MaskRatio,
    [property: JsonPropertyName("seed")] ulong Seed,
    [property: JsonPropertyName("loss")] double Loss,
    [property: JsonPropertyName("figure")] string Figure,
    [property: JsonPropertyName("shown")] IReadOnlyList<string> Shown)
{
    /// <summary>Indented JSON.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, AttentionSummary.Options);

    /// <summary>Writes <see cref="ToJson"/> atomically.</summary>
    public void Save(string path) => AtomicFile.WriteAllText(path, ToJson() + "\n");
}

/// <summary>
/// <c>crate-mae reconstruct</c>: the four-panel reconstruction rows of training (original | masked | reconstruction |
/// reconstruction + visible) for arbitrary images, with seeded masking noise.
/// </summary>
public static class ReconstructionFigure
{
    /// <exception cref="ArgumentException">The mask ratio keeps no patch or removes none.</exception>
    public static ReconstructionSummary Save(string path, Models.MaskedAutoencoder model, ImageBatch batch, double maskRatio, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(batch);
        var c = model.Config;
        Models.RandomMasking.KeepCount(c.NumPatches, maskRatio);
        model.eval();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var device = model.parameters().First().device;
        var images = batch.Images.to(device);
        using var generator = new Generator(seed);
        var noise = rand(images.shape[0], c.NumPatches, generator: generator).to(device);
        using var output = model.Forward(images, maskRatio, noise);
        var panels = RunArtifacts.ReconstructionPanels(model, images, output);
        var display = new RunArtifacts(batch.Normalization, "");
        var grid = ImageGrid.FromBatches(panels.Select(display.ToDisplay).ToList(),
            ["original", $"masked {maskRatio:P0}", "reconstruction", "reconstruction + visible"], maxRows: batch.Count);
        grid.SavePng(path);
        return new ReconstructionSummary(maskRatio, seed, output.Loss.item<float>(), Path.GetFullPath(path), batch.Names);
    }
}
