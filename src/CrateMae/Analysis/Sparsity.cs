using static TorchSharp.torch;

namespace CrateMae.Analysis;

/// <summary>
/// Sparsity of token representations (spec §7.2): per sample, the fraction of entries that are exactly zero,
/// #(Z = 0)/(N·D). The reference plot shows the normalised ℓ⁰ density 1 − zero fraction (lower = sparser).
/// </summary>
public static class Sparsity
{
    /// <summary>
    /// Per-sample fraction of exactly-zero entries of <paramref name="tokens"/> [B, …] (normally [B, N, D]); −0.0
    /// counts as zero, NaN does not.
    /// </summary>
    /// <exception cref="ArgumentException">Fewer than two dimensions, or an empty batch or sample.</exception>
    public static double[] ZeroFractions(Tensor tokens)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        if (tokens.dim() < 2)
            throw new ArgumentException($"tokens must be [B, …] with at least 2 dimensions, got [{string.Join(", ", tokens.shape)}]", nameof(tokens));
        if (tokens.shape[0] == 0 || tokens.numel() == 0)
            throw new ArgumentException($"tokens have an empty dimension: [{string.Join(", ", tokens.shape)}]", nameof(tokens));
        using var scope = NewDisposeScope();
        var fractions = tokens.detach().eq(0).flatten(1).to(ScalarType.Float64).mean([1]).cpu();
        return fractions.data<double>().ToArray();
    }

    /// <summary>The normalised ℓ⁰ density ‖Z‖₀/(N·D) = 1 − zero fraction.</summary>
    public static double Density(double zeroFraction) => 1.0 - zeroFraction;

    /// <summary>Mean and unbiased std over the batch of <see cref="ZeroFractions"/>.</summary>
    public static SampleStatistics Measure(Tensor tokens) => SampleStatistics.Of(ZeroFractions(tokens));
}
