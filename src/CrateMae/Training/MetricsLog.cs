using System.Text.Json;
using System.Text.Json.Nodes;
using CrateMae.IO;

namespace CrateMae.Training;

/// <summary>
/// <c>metrics.jsonl</c>: one JSON object per line (<c>{"type": "step"|"epoch"|..., ...}</c>), flushed per line.
/// On resume, lines after the checkpoint's global step are dropped so the file describes exactly one run.
/// </summary>
public sealed class MetricsLog : IDisposable
{
    private readonly StreamWriter _writer;

    public MetricsLog(string path, long? keepUpToStep)
    {
        Path = path;
        if (keepUpToStep is { } keep && File.Exists(path))
        {
            // Lines that are not a JSON object with an integer step (a torn last line from a crash, garbage) are dropped too.
            var kept = File.ReadAllLines(path).Where(line => StepOf(line) is { } s && s <= keep).ToList();
            AtomicFile.WriteAllText(path, string.Concat(kept.Select(l => l + "\n")));
        }
        else if (keepUpToStep is null && File.Exists(path))
        {
            File.Delete(path);
        }
        _writer = new StreamWriter(new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read));
    }

    public string Path { get; }

    public void Write(object record)
    {
        _writer.WriteLine(JsonSerializer.Serialize(record, JsonOptions));
        _writer.Flush();
    }

    /// <summary>
    /// Reads every record of a metrics file: JSON objects with a string "type" and, when present, an integer "step".
    /// Torn or malformed lines are skipped.
    /// </summary>
    public static IReadOnlyList<JsonObject> Read(string path) =>
        File.ReadLines(path).Select(Parse).OfType<JsonObject>()
            .Where(r => r["type"] is JsonValue t && t.TryGetValue<string>(out _) && (r["step"] is null || Integer(r, "step") is not null))
            .ToList();

    /// <summary>The record's field <paramref name="key"/> as a number, or null when it is missing or not a number.</summary>
    public static double? Number(JsonObject record, string key) =>
        record[key] is JsonValue v && v.TryGetValue<double>(out var d) ? d : null;

    /// <summary>The record's field <paramref name="key"/> as an integer, or null when it is missing or not an integer.</summary>
    public static long? Integer(JsonObject record, string key) =>
        record[key] is JsonValue v && v.TryGetValue<long>(out var l) ? l : null;

    private static JsonObject? Parse(string line)
    {
        try
        {
            if (JsonNode.Parse(line) is not JsonObject o) return null;
            _ = o.Count;    // materialises the properties now: a duplicate key throws here, not later in a reader
            return o;
        }
        catch (JsonException) { return null; }
        catch (ArgumentException) { return null; }    // duplicate property names
    }

    private static long? StepOf(string line)
    {
        if (Parse(line)?["step"] is not JsonValue v) return null;
        return v.TryGetValue<long>(out var step) ? step : null;
    }

    // NaN/Inf (e.g. a diverged test loss) are written as "NaN"/"Infinity" strings instead of failing the run.
    internal static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public void Dispose() => _writer.Dispose();
}
