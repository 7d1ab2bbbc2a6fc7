namespace CrateMae.Evaluation;

/// <summary>How an encoder's token sequence [B, N, D] is reduced to one feature vector per image.</summary>
public enum Pooling
{
    /// <summary>The cls token (index 0) of the final-normed encoder output.</summary>
    Cls,

    /// <summary>The average of the patch tokens (indices 1..N−1), the cls token excluded.</summary>
    Mean,
}
