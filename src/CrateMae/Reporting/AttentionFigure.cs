using System.Text.Json;
using System.Text.Json.Serialization;
using CrateMae.Analysis;
using CrateMae.IO;
using static TorchSharp.torch;

namespace CrateMae.Reporting;

/// <summary>
/// What <c>crate-mae attention</c> prints with <c>--json</c> and writes next to its PNG:
/// <c>{"checkpoint", "layer", "heads", "grid", "figure", "shown", "shown_ratio", "data", "dataset_ratio", "random_init_ratio"}</c>.
/// <c>layer</c> is the encoder block 1 … depth (as <c>--layer</c> counts). Ratios are null when not measured; an
/// undefined mean (no usable image) is written as "NaN".
/// </summary>
public sealed record AttentionSummary(
    [property: JsonPropertyName("checkpoint")] string Checkpoint,
    [property: JsonPropertyName("layer")] int Layer,
    [property: JsonPropertyName("heads")] int Heads,
    [property: JsonPropertyName("grid")] int[] Grid,
    [property: JsonPropertyName("figure")] string Figure,
    [property: JsonPropertyName("shown")] IReadOnlyList<string> Shown,
    [property: JsonPropertyName("shown_ratio")] ForegroundSummary? ShownRatio,
    [property: JsonPropertyName("data")] string? Data,
    [property: JsonPropertyName("dataset_ratio")] ForegroundSummary? DatasetRatio,
    [property: JsonPropertyName("random_init_ratio")] ForegroundSummary? RandomInitRatio)
{
    /// <summary>Options of the summary files: indented, NaN allowed (as "NaN").</summary>
    internal static readonly JsonSerializerOptions Options = new()
    {
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>Indented JSON (NaN as the string "NaN").</summary>
    public string ToJson() => JsonSerializer.Serialize(this, Options);

    /// <summary>Parses <see cref="ToJson"/> output.</summary>
    public static AttentionSummary FromJson(string json) =>
        JsonSerializer.Deserialize<AttentionSummary>(json, Options) ?? throw new ArgumentException("attention summary: empty JSON");

    /// <summary>Writes <see cref="ToJson"/> atomically.</summary>
    public void Save(string path) => AtomicFile.WriteAllText(path, ToJson() + "\n");
}

/// <summary>
/// <c>crate-mae attention</c> (spec §7.4): the cls attention of every head of one encoder block on the unmasked path
/// (<see cref="ClsAttention.Maps"/>), drawn as overlays.
/// </summary>
public static class AttentionFigure
{
    /// <summary>
    /// Renders the figure of encoder block <paramref name="blockNumber"/> (1 … depth): a row per image (image, each
    /// head, head mean), normalisation undone for display.
    /// </summary>
    /// <exception cref="ArgumentException">The block number is outside 1 … depth.</exception>
    public static void Save(string path, LayerProbe probe, ImageBatch batch, int blockNumber)
    {
        ArgumentNullException.ThrowIfNull(batch);
        using var maps = ClsAttention.Maps(probe, batch.Images, blockNumber);
        AttentionGridImage.Save(path, batch.Images, maps, mean: batch.Mean, std: batch.Std, rowLabels: batch.Names);
    }
}
