using CrateMae.Analysis;
using static TorchSharp.torch;

namespace CrateMae.Evaluation;

/// <summary>
/// PCA whitening fitted on training features: x ↦ (x − μ) V_k diag(λ_k + ε)^(−1/2), where μ is the training mean and
/// V_k, λ_k the k leading eigenvectors and eigenvalues of the training covariance (<see cref="PatchPca"/>'s fit, in
/// float64). Every kept direction then has unit variance, so a cosine k-NN weighs the directions by how they separate
/// the images instead of by how much of the feature's variance they carry (for masked-autoencoder features, mostly
/// what reconstructs the pixels), and the smallest directions, mostly noise, are dropped. Applies to float32 features
/// [n, D] → [n, k].
/// </summary>
public sealed class PcaWhitening : IDisposable
{
    private readonly PatchPca _pca;
    private readonly Tensor _scale;   // [k] float64: (λ_k + ε)^(−1/2)

    private PcaWhitening(PatchPca pca, double epsilon)
    {
        _pca = pca;
        _scale = tensor(pca.ExplainedVariance.ToArray(), dtype: ScalarType.Float64).add_(epsilon).rsqrt_().DetachFromDisposeScope();
    }

    /// <summary>Kept components k.</summary>
    public int Components => _pca.ComponentCount;

    /// <summary>Fits the whitening on <paramref name="train"/> [n, D], keeping <paramref name="components"/> directions.</summary>
    /// <exception cref="ArgumentException">The features are not [n ≥ 2, D], or the count is not in 1 … D.</exception>
    public static PcaWhitening Fit(Tensor train, int components, double epsilon = 1e-6)
    {
        ArgumentNullException.ThrowIfNull(train);
        if (train.dim() != 2 || train.shape[0] < 2) throw new ArgumentException($"features must be [n ≥ 2, D], got [{string.Join(", ", train.shape)}]", nameof(train));
        long d = train.shape[1];
        if (components < 1 || components > d)
            throw new ArgumentException($"--whiten {components}: expected 1 … {d}, the feature dimension", nameof(components));
        return new PcaWhitening(PatchPca.Fit(train, components), epsilon);
    }

    /// <summary>Whitened features [n, k] float32 of <paramref name="features"/> [n, D] (the caller owns the result).</summary>
    public Tensor Apply(Tensor features)
    {
        ArgumentNullException.ThrowIfNull(features);
        if (features.dim() != 2 || features.shape[1] != _pca.Dimension)
            throw new ArgumentException($"features must be [n, {_pca.Dimension}], got [{string.Join(", ", features.shape)}]", nameof(features));
        using var scope = NewDisposeScope();
        return (_pca.Transform(features) * _scale).to(ScalarType.Float32).MoveToOuterDisposeScope();   // [n, k]
    }

    public void Dispose() => _scale.Dispose();
}
