using System.Text.Json;
using System.Text.Json.Serialization;
using CrateMae.IO;

namespace CrateMae.Analysis;

/// <summary>One measured model of an <see cref="AnalysisFile"/>: legend name, where the weights came from, the measurements.</summary>
/// <param name="Name">Legend text (e.g. "anarun (trained)", "random init (seed 0)").</param>
/// <param name="Source">Checkpoint path, or "random init, seed S" for a fresh model.</param>
/// <param name="Report">Per-layer statistics.</param>
public sealed record AnalysisSeries(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("source")] string Source,
    [property: JsonPropertyName("report")] WhiteBoxReport Report)
{
    /// <summary>How the <see cref="Source"/> of a freshly initialised model begins ("random init of CONFIG, seed S").</summary>
    public const string RandomInitSourcePrefix = "random init of ";

    /// <summary>True for a freshly initialised model (<c>--random-init</c>), recognised by its <see cref="Source"/>.</summary>
    [JsonIgnore]
    public bool IsRandomInit => Source.StartsWith(RandomInitSourcePrefix, StringComparison.Ordinal);
}

/// <summary>
/// <c>analysis.json</c>, written by <c>crate-mae analyze</c> (schema version 1, snake_case, fields in this order):
/// <c>{"schema_version": 1, "data": "fashion-mnist:test", "images": 256, "path": "unmasked",
/// "series": [{"name", "source", "report": {WhiteBoxReport}}]}</c>. The first series is the analysed checkpoint; the
/// others are the comparisons (<c>--compare</c>, <c>--random-init</c>). Unknown or missing fields are an error.
/// </summary>
/// <param name="SchemaVersion">Always <see cref="CurrentSchema"/>.</param>
/// <param name="Data">The images measured: dataset spec and split.</param>
/// <param name="Images">Images per series.</param>
/// <param name="TokenPath">Which forward path: "unmasked" (the feature path of spec §2.12, all patches + cls).</param>
/// <param name="Series">The measured models, analysed checkpoint first.</param>
public sealed record AnalysisFile(
    [property: JsonPropertyName("schema_version")] int SchemaVersion,
    [property: JsonPropertyName("data")] string Data,
    [property: JsonPropertyName("images")] int Images,
    [property: JsonPropertyName("path")] string TokenPath,
    [property: JsonPropertyName("series")] IReadOnlyList<AnalysisSeries> Series)
{
    /// <summary>The schema version this code writes and reads.</summary>
    public const int CurrentSchema = 1;

    /// <summary>File name inside an analysis folder.</summary>
    public const string FileName = "analysis.json";

    /// <summary>Indented JSON in the documented field order.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, StrictJson.Options);

    /// <summary>Parses <see cref="ToJson"/> output.</summary>
    /// <exception cref="ArgumentException">Not a valid analysis file, or another schema version.</exception>
    public static AnalysisFile FromJson(string json, string source = AnalysisFile.FileName)
    {
        var file = StrictJson.Parse<AnalysisFile>(json, source, "analysis file");
        if (file.Series is null || file.Data is null || file.TokenPath is null)
            throw new ArgumentException($"{source}: missing fields (data, path and series are required)");
        if (file.SchemaVersion != CurrentSchema)
            throw new ArgumentException($"{source}: schema_version {file.SchemaVersion}, this program reads {CurrentSchema}");
        // Re-validate every nested report (layer order) through the report's own reader.
        foreach (var s in file.Series)
            WhiteBoxReport.FromJson(JsonSerializer.Serialize(s.Report, StrictJson.Options), $"{source} (series '{s.Name}')");
        return file;
    }

    /// <summary>The random-init comparison (the first series after the analysed checkpoint that is one), or null.</summary>
    public AnalysisSeries? RandomInitSeries() => Series.Skip(1).FirstOrDefault(s => s.IsRandomInit);

    /// <summary>Writes <see cref="ToJson"/> atomically.</summary>
    public void Save(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        AtomicFile.WriteAllText(path, ToJson() + "\n");
    }

    /// <summary>Reads a file written by <see cref="Save"/>.</summary>
    public static AnalysisFile Load(string path) => FromJson(InputFile.ReadAllText(path, "analysis file"), path);
}
