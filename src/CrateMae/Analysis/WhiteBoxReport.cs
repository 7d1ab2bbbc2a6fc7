using System.Text.Json;
using System.Text.Json.Serialization;
using CrateMae.IO;

namespace CrateMae.Analysis;

/// <summary>
/// Per-layer coding rate, sparsity (spec §7.1–7.2) and cls-attention foreground ratio of a model over a set of images,
/// with a stable snake_case JSON form: <c>{"model", "images", "block_kind", "epsilon", "layers": [{"layer",
/// "coding_rate_mean", "coding_rate_std", "sparsity_mean", "sparsity_std", "zero_fraction_mean",
/// "foreground_ratio_mean", "foreground_ratio_std"}]}</c>; the two foreground fields may be null, and absent on reading.
/// </summary>
/// <param name="Model">Name of the measured model (e.g. a preset name, "random init", a checkpoint file).</param>
/// <param name="Images">Number of images the statistics were taken over.</param>
/// <param name="BlockKind">Encoder block kind: "crate" or "vit".</param>
/// <param name="Epsilon">ε used for the coding rate.</param>
/// <param name="Layers">One entry per encoder layer, ℓ = 1 … L in order.</param>
public sealed record WhiteBoxReport(
    [property: JsonPropertyName("model")] string Model,
    [property: JsonPropertyName("images")] int Images,
    [property: JsonPropertyName("block_kind")] string BlockKind,
    [property: JsonPropertyName("epsilon")] double Epsilon,
    [property: JsonPropertyName("layers")] IReadOnlyList<LayerStatistics> Layers)
{
    /// <summary>Indented JSON in the documented field order.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, StrictJson.Options);

    /// <summary>Parses <see cref="ToJson"/> output; unknown or missing fields are an error.</summary>
    /// <exception cref="ArgumentException">Not a valid report.</exception>
    public static WhiteBoxReport FromJson(string json, string source = "white-box report JSON")
    {
        var report = StrictJson.Parse<WhiteBoxReport>(json, source, "white-box report");
        if (report.Model is null || report.Layers is null || report.BlockKind is null)
            throw new ArgumentException($"{source}: missing fields (model, block_kind and layers are required)");
        for (int i = 0; i < report.Layers.Count; i++)
            if (report.Layers[i] is null || report.Layers[i].Layer != i + 1)
                throw new ArgumentException($"{source}: layers must be listed in order 1 … L (entry {i} is not layer {i + 1})");
        return report;
    }

    /// <summary>Writes <see cref="ToJson"/> to <paramref name="path"/> atomically (temporary file, then rename).</summary>
    public void Save(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        AtomicFile.WriteAllText(path, ToJson() + "\n");
    }

    /// <summary>Reads a report written by <see cref="Save"/>.</summary>
    public static WhiteBoxReport Load(string path) => FromJson(File.ReadAllText(path), path);
}
