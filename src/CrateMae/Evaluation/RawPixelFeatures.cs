using static TorchSharp.torch;

namespace CrateMae.Evaluation;

/// <summary>
/// The pixel floor: each image flattened to one vector (C·H·W values, channel-major as stored), with no encoder.
/// A probe or k-NN on these features is the baseline any learned representation should beat.
/// </summary>
public static class RawPixelFeatures
{
    /// <summary>
    /// Flattens every image of <paramref name="batches"/>; each batch is fetched and processed inside its own dispose
    /// scope (same ownership rules as <see cref="FeatureExtractor"/>).
    /// </summary>
    /// <returns>Features [n, C·H·W] float32 and labels [n] int64, both on the CPU.</returns>
    public static (Tensor Features, Tensor Labels) Extract(IEnumerable<(Tensor Images, Tensor Labels)> batches)
    {
        ArgumentNullException.ThrowIfNull(batches);
        using var _ = no_grad();
        return FeatureExtractor.Collect(batches, (images, _) =>
        {
            if (images.dim() < 2)
                throw new ArgumentException($"batches: images must be [B, ...] with at least one feature dimension, got [{string.Join(", ", images.shape)}]",
                    nameof(batches));
            return images.flatten(1);
        });
    }
}
