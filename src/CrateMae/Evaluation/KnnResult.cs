using System.Text.Json.Serialization;

namespace CrateMae.Evaluation;

/// <summary>Weighted k-NN outcome (JSON <c>"kind": "knn"</c>); see <see cref="KnnClassifier"/>.</summary>
public sealed record KnnResult : EvaluationResult
{
    /// <summary>Neighbours voting.</summary>
    public required int K { get; init; }

    /// <summary>Vote temperature T: a neighbour with cosine similarity s votes exp(s/T).</summary>
    public required double Temperature { get; init; }

    /// <summary>PCA-whitened components the neighbours were found in (<c>knn --whiten K</c>, <see cref="PcaWhitening"/>); omitted without whitening.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? Whiten { get; init; }

    /// <summary>Training samples held out to score the k-NN on validation (<c>knn --val-fraction</c>); omitted without a split.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? ValSize { get; init; }

    /// <summary>Validation top-1 at the chosen whitening (held-out training samples, the rest as the reference); omitted without a split.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? ValTop1 { get; init; }

    /// <summary>Validation top-1 for every whitening candidate, in the order given (<c>--whiten 0,64,128</c>); omitted for one candidate.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<WhitenPoint>? WhitenCurve { get; init; }

    /// <summary>Top-5 accuracy (fraction in [0, 1]); null when there are fewer than 5 classes.</summary>
    [JsonPropertyOrder(-12)]
    public required double? Top5 { get; init; }
}
