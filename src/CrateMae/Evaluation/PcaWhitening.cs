using static TorchSharp.torch;

namespace CrateMae.Evaluation;

/// <summary>
/// PCA whitening fitted on training features: x ↦ (x − μ) V_k diag(λ_k + ε)^(−1/2), where μ is the training mean and
/// V_k, λ_k the k leading eigenvectors and eigenvalues of the training covariance. Every kept direction then has unit
/// variance, so a cosine k-NN weighs the directions by how they separate the images instead of by how much of the
/// feature's variance they carry (for masked-autoencoder features, mostly what reconstructs the pixels), and the
/// smallest directions, mostly noise, are dropped. Fitted in float64; applies to float32 features [n, D] → [n, k].
/// </summary>
public sealed class PcaWhitening : IDisposable
{
    private readonly Tensor _mean;        // [D] float64
    private readonly Tensor _projection;  // [D, k] float64: V_k / sqrt(λ_k + ε)

    private PcaWhitening(Tensor mean, Tensor projection)
    {
        _mean = mean.DetachFromDisposeScope();
        _projection = projection.DetachFromDisposeScope();
    }

    /// <summary>Kept components k.</summary>
    public int Components => (int)_projection.shape[1];

    /// <summary>Fits the whitening on <paramref name="train"/> [n, D], keeping <paramref name="components"/> directions.</summary>
    /// <exception cref="ArgumentException">The features are not [n ≥ 2, D], or the count is not in 1 … D.</exception>
    public static PcaWhitening Fit(Tensor train, int components, double epsilon = 1e-6)
    {
        ArgumentNullException.ThrowIfNull(train);
        if (train.dim() != 2 || train.shape[0] < 2) throw new ArgumentException($"features must be [n ≥ 2, D], got [{string.Join(", ", train.shape)}]", nameof(train));
        long d = train.shape[1];
        if (components < 1 || components > d)
            throw new ArgumentException($"--whiten {components}: expected 1 … {d}, the feature dimension", nameof(components));
        using var scope = NewDisposeScope();
        var x = train.to(ScalarType.Float64);
        var mean = x.mean([0]);                                                    // [D]
        var centred = x - mean;                                                    // [n, D]
        var covariance = centred.T.matmul(centred) / (x.shape[0] - 1);             // [D, D]
        var (values, vectors) = linalg.eigh(covariance);                           // ascending
        var top = arange(d - 1, d - 1 - components, -1, dtype: ScalarType.Int64); // the k largest, descending
        var projection = vectors.index_select(1, top) / (values.index_select(0, top).clamp_min(0) + epsilon).sqrt();   // [D, k]
        return new PcaWhitening(mean.MoveToOuterDisposeScope(), projection.MoveToOuterDisposeScope());
    }

    /// <summary>Whitened features [n, k] float32 of <paramref name="features"/> [n, D] (the caller owns the result).</summary>
    public Tensor Apply(Tensor features)
    {
        ArgumentNullException.ThrowIfNull(features);
        if (features.dim() != 2 || features.shape[1] != _mean.shape[0])
            throw new ArgumentException($"features must be [n, {_mean.shape[0]}], got [{string.Join(", ", features.shape)}]", nameof(features));
        using var scope = NewDisposeScope();
        return (features.to(ScalarType.Float64) - _mean).matmul(_projection).to(ScalarType.Float32).MoveToOuterDisposeScope();
    }

    public void Dispose()
    {
        _mean.Dispose();
        _projection.Dispose();
    }
}
