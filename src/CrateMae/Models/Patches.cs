using static TorchSharp.torch;

namespace CrateMae.Models;

/// <summary>Patchify / unpatchify with MAE's layout (spec §2.9): patches row-major, inside a patch (row, column, channel).</summary>
public static class Patches
{
    /// <summary>[B, C, S, S] → [B, L, p²·C].</summary>
    public static Tensor Patchify(Tensor imgs, int patchSize)
    {
        var (b, c, h, w) = (imgs.shape[0], imgs.shape[1], imgs.shape[2], imgs.shape[3]);
        if (h != w || h % patchSize != 0)
            throw new ArgumentException($"patchify needs a square image divisible by {patchSize}, got {h}×{w}");
        long g = h / patchSize;
        using var x = imgs.reshape(b, c, g, patchSize, g, patchSize);
        using var y = x.permute(0, 2, 4, 3, 5, 1);                 // [B, g, g, p, p, C]
        return y.reshape(b, g * g, patchSize * patchSize * c);
    }

    /// <summary>[B, L, p²·C] → [B, C, S, S]; L must be a square.</summary>
    public static Tensor Unpatchify(Tensor patches, int patchSize, int channels)
    {
        var (b, l, pc) = (patches.shape[0], patches.shape[1], patches.shape[2]);
        long g = (long)Math.Floor(Math.Sqrt(l));
        if (g * g != l) throw new ArgumentException($"unpatchify needs a square number of patches, got {l}");
        if (pc != (long)patchSize * patchSize * channels)
            throw new ArgumentException($"unpatchify: patch width {pc} ≠ {patchSize}²·{channels}");
        using var x = patches.reshape(b, g, g, patchSize, patchSize, channels);
        using var y = x.permute(0, 5, 1, 3, 2, 4);                 // [B, C, g, p, g, p]
        return y.reshape(b, channels, g * patchSize, g * patchSize);
    }
}
