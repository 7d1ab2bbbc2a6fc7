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

    /// <summary>Top-5 accuracy (fraction in [0, 1]); null when there are fewer than 5 classes.</summary>
    [JsonPropertyOrder(-12)]
    public required double? Top5 { get; init; }
}
