using System.Text.Json;
using System.Text.Json.Serialization;
using CrateMae.IO;

namespace CrateMae.Evaluation;

/// <summary>
/// One downstream-evaluation outcome, serialised as a flat snake_case JSON object whose first property is
/// <c>"kind"</c> (<c>"linear_probe"</c>, <c>"knn"</c> or <c>"fine_tune"</c>). The schema is documented in <c>docs/evaluation-schema.md</c>;
/// <see cref="SchemaVersion"/> changes whenever a property is renamed, removed or changes meaning.
/// Accuracies are fractions in [0, 1].
/// </summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "kind",
    UnknownDerivedTypeHandling = JsonUnknownDerivedTypeHandling.FailSerialization)]
[JsonDerivedType(typeof(LinearProbeResult), "linear_probe")]
[JsonDerivedType(typeof(KnnResult), "knn")]
[JsonDerivedType(typeof(FineTuneResult), "fine_tune")]
public abstract record EvaluationResult
{
    /// <summary>The schema version this code writes.</summary>
    public const int CurrentSchemaVersion = 1;

    /// <summary>Schema version of this record (JSON <c>schema_version</c>).</summary>
    [JsonPropertyOrder(-20)]
    public int SchemaVersion { get; init; } = CurrentSchemaVersion;

    /// <summary>What was evaluated: a preset/config name, a checkpoint path, or <c>"pixels"</c> for the raw-pixel floor.</summary>
    [JsonPropertyOrder(-19)]
    public required string Model { get; init; }

    /// <summary>Token pooling (<c>"cls"</c> / <c>"mean"</c>); null for features that are not pooled tokens (raw pixels).</summary>
    [JsonPropertyOrder(-18)]
    public required Pooling? Pooling { get; init; }

    /// <summary>
    /// Encoder block whose output was pooled (1-based); null for the last block after the final norm, for raw pixels
    /// and when several blocks were concatenated (<see cref="Layers"/>).
    /// </summary>
    [JsonPropertyOrder(-17)]
    public int? Layer { get; init; }

    /// <summary>
    /// The encoder blocks (1 … depth, the last one after the final norm) whose pooled features were concatenated, in
    /// order, when there were several (<c>--layer 3,6</c>); omitted otherwise.
    /// </summary>
    [JsonPropertyOrder(-17)]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<int>? Layers { get; init; }

    /// <summary>
    /// <c>"bf16"</c> when the features were extracted with bf16 matrix products (<c>--precision bf16</c>); omitted for
    /// float32 extraction, raw pixels and fine-tuning (whose own <c>precision</c> field covers training).
    /// </summary>
    [JsonPropertyOrder(-17)]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? FeaturePrecision { get; init; }

    /// <summary>Feature dimension D.</summary>
    [JsonPropertyOrder(-17)]
    public required int FeatureDim { get; init; }

    /// <summary>Number of classes C.</summary>
    [JsonPropertyOrder(-16)]
    public required int NumClasses { get; init; }

    /// <summary>Training (reference) samples.</summary>
    [JsonPropertyOrder(-15)]
    public required long TrainSize { get; init; }

    /// <summary>Test samples scored.</summary>
    [JsonPropertyOrder(-14)]
    public required long TestSize { get; init; }

    /// <summary>Test top-1 accuracy, a fraction in [0, 1].</summary>
    [JsonPropertyOrder(-13)]
    public required double Top1 { get; init; }

    /// <summary>The weights evaluated: checkpoint file (null for raw pixels and random-init floors, or when not recorded).</summary>
    [JsonPropertyOrder(90)]
    public string? Source { get; init; }

    /// <summary>The data: training and test split specs with any image limit, e.g. <c>fashion-mnist:train → fashion-mnist:test</c>.</summary>
    [JsonPropertyOrder(91)]
    public string? Data { get; init; }

    /// <summary>Wall-clock seconds of the evaluation (fitting and scoring; feature extraction not included).</summary>
    [JsonPropertyOrder(100)]
    public required double Seconds { get; init; }

    /// <summary>Serialiser settings of the schema: snake_case names, enums as snake_case strings, nulls written.</summary>
    public static JsonSerializerOptions JsonOptions { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower, allowIntegerValues: false) },
        RespectNullableAnnotations = true,
        RespectRequiredConstructorParameters = true,
    };

    /// <summary>The record as schema JSON (with its <c>"kind"</c> discriminator).</summary>
    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    /// <summary>Parses schema JSON back into a <see cref="LinearProbeResult"/>, <see cref="KnnResult"/> or <see cref="FineTuneResult"/>.</summary>
    public static EvaluationResult FromJson(string json)
    {
        try
        {
            return JsonSerializer.Deserialize<EvaluationResult>(json, JsonOptions)
                   ?? throw new ArgumentException("evaluation result JSON is null");
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"not a valid evaluation result: expected a JSON object with \"kind\" \"linear_probe\", \"knn\" or \"fine_tune\" " +
                                        $"and the schema's properties ({e.Message})", nameof(json), e);
        }
        catch (NotSupportedException e)
        {
            throw new ArgumentException($"not a valid evaluation result: expected a \"kind\" of \"linear_probe\", \"knn\" or \"fine_tune\" ({e.Message})",
                nameof(json), e);
        }
    }

    /// <summary>Writes <see cref="ToJson"/> to <paramref name="path"/> atomically (temporary file + rename).</summary>
    public void Save(string path) => AtomicFile.WriteAllText(path, ToJson() + "\n");
}
