using System.Text.Json;
using System.Text.Json.Nodes;

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
            var kept = File.ReadAllLines(path).Where(line =>
            {
                try { return JsonNode.Parse(line)?["step"]?.GetValue<long>() is { } s && s <= keep; }
                catch (JsonException) { return false; }    // a torn last line from a crash
            }).ToList();
            File.WriteAllLines(path, kept);
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

    /// <summary>Reads every record of a metrics file (torn lines skipped).</summary>
    public static IReadOnlyList<JsonObject> Read(string path) =>
        File.ReadLines(path).Select(l =>
        {
            try { return JsonNode.Parse(l) as JsonObject; }
            catch (JsonException) { return null; }
        }).OfType<JsonObject>().ToList();

    internal static readonly JsonSerializerOptions JsonOptions = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    public void Dispose() => _writer.Dispose();
}
