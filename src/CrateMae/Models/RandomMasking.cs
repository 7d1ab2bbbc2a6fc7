using static TorchSharp.torch;

namespace CrateMae.Models;

/// <summary>Per-sample random masking by argsort of uniform noise (spec §2.4), with injectable noise for replay.</summary>
public static class RandomMasking
{
    /// <summary>L_keep = floor(L·(1 − r)) evaluated in double precision; rejects ratios that keep no token.</summary>
    public static int KeepCount(int numPatches, double maskRatio)
    {
        if (!(maskRatio >= 0 && maskRatio < 1))
            throw new ArgumentException($"mask ratio {maskRatio} must be in [0, 1)");
        int keep = (int)Math.Floor(numPatches * (1.0 - maskRatio));
        if (keep < 1)
            throw new ArgumentException($"mask ratio {maskRatio} keeps no patch of {numPatches}; use a smaller ratio");
        return keep;
    }

    /// <summary>
    /// From noise [B, L]: <c>idsKeep</c> [B, L_keep] (kept tokens, in shuffled order), <c>idsRestore</c> [B, L]
    /// (inverse permutation) and <c>mask</c> [B, L] (float32, 1 = removed).
    /// </summary>
    public static (Tensor IdsKeep, Tensor IdsRestore, Tensor Mask) FromNoise(Tensor noise, int keep)
    {
        using var scope = NewDisposeScope();
        var idsShuffle = noise.argsort(1);                         // ascending: small noise is kept
        var idsRestore = idsShuffle.argsort(1);
        var idsKeep = idsShuffle[.., ..keep];
        var mask = (idsRestore >= keep).to(ScalarType.Float32);    // = gather([0]*keep ++ [1]*(L−keep), idsRestore)
        return (idsKeep.contiguous().MoveToOuterDisposeScope(), idsRestore.MoveToOuterDisposeScope(), mask.MoveToOuterDisposeScope());
    }
}
