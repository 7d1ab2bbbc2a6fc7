namespace CrateMae.Evaluation;

/// <summary>How an encoder's token sequence [B, N, D] is reduced to one feature vector per image.</summary>
public enum Pooling
{
    /// <summary>The cls token (index 0) of the final-normed encoder output.</summary>
    Cls,

    /// <summary>The average of the patch tokens (indices 1..N−1), the cls token excluded.</summary>
    Mean,

    /// <summary>
    /// The average of the patch tokens in each quadrant of the patch grid (torch's <c>adaptive_avg_pool2d</c> to 2×2,
    /// so an odd grid shares its middle row and column), concatenated top-left, top-right, bottom-left, bottom-right:
    /// [B, 4D]. Keeps where in the image a feature is, which one mean over all patches loses.
    /// </summary>
    Grid,
}
