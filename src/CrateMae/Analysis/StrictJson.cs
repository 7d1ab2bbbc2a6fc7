using System.Text.Json;
using System.Text.Json.Serialization;

namespace CrateMae.Analysis;

/// <summary>
/// The JSON settings of the analysis files (<see cref="WhiteBoxReport"/>, <see cref="AnalysisFile"/>): indented, and
/// strict on reading — unknown members, missing constructor parameters and nulls in non-nullable places are errors.
/// </summary>
internal static class StrictJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        WriteIndented = true,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        RespectRequiredConstructorParameters = true,
        RespectNullableAnnotations = true,
    };

    /// <summary>Deserialises <paramref name="json"/>; any parse error becomes an <see cref="ArgumentException"/> naming the source.</summary>
    /// <exception cref="ArgumentException">Not valid JSON for <typeparamref name="T"/>, or null.</exception>
    public static T Parse<T>(string json, string source, string what) where T : class
    {
        ArgumentNullException.ThrowIfNull(json);
        try
        {
            return JsonSerializer.Deserialize<T>(json, Options) ?? throw new ArgumentException($"{source}: not a valid {what} (null)");
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"{source}: not a valid {what} ({e.Message})", e);
        }
    }
}
