using static TorchSharp.torch;

namespace CrateMae.Analysis;

/// <summary>
/// Saliency maps from attention (spec §7.4): the cls row of each head's softmax matrix over the patch columns,
/// S_k[0, 1:], laid out on the (H/p) × (W/p) patch grid in row-major order; plus a foreground-concentration metric.
/// </summary>
public static class AttentionSaliency
{
    /// <summary>Default tolerance of <see cref="ForegroundMask"/>: a pixel differing from the background by more is foreground.</summary>
    public const double DefaultTolerance = 1e-3;

    /// <summary>Per-head cls saliency: attention [B, K, N, N] with N = 1 + gh·gw → [B, K, gh, gw] (float32).</summary>
    /// <exception cref="ArgumentException">Not [B, K, N, N], or N − 1 ≠ gh·gw.</exception>
    public static Tensor ClsMaps(Tensor attention, int gridHeight, int gridWidth)
    {
        ArgumentNullException.ThrowIfNull(attention);
        if (attention.dim() != 4 || attention.shape[2] != attention.shape[3])
            throw new ArgumentException($"attention must be [B, K, N, N], got [{string.Join(", ", attention.shape)}]", nameof(attention));
        if (gridHeight <= 0 || gridWidth <= 0)
            throw new ArgumentException($"grid must be positive, got {gridHeight}×{gridWidth}");
        long n = attention.shape[2];
        if (n - 1 != (long)gridHeight * gridWidth)
            throw new ArgumentException($"attention has {n} tokens = cls + {n - 1} patches, which does not fit a {gridHeight}×{gridWidth} grid", nameof(attention));
        using var scope = NewDisposeScope();
        var row = attention.detach()[.., .., 0, 1..];                                              // [B, K, L]
        return row.to(ScalarType.Float32).reshape(attention.shape[0], attention.shape[1], gridHeight, gridWidth)
            .contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>Head average of per-head maps: [B, K, gh, gw] → [B, gh, gw].</summary>
    public static Tensor HeadAverage(Tensor maps)
    {
        ArgumentNullException.ThrowIfNull(maps);
        if (maps.dim() != 4) throw new ArgumentException($"maps must be [B, K, gh, gw], got [{string.Join(", ", maps.shape)}]", nameof(maps));
        return maps.mean([1]);
    }

    /// <summary>Nearest-neighbour upsampling of the last two axes by integer factors: […, gh, gw] → […, gh·sy, gw·sx].</summary>
    public static Tensor UpsampleNearest(Tensor maps, int factorY, int factorX)
    {
        ArgumentNullException.ThrowIfNull(maps);
        if (maps.dim() < 2) throw new ArgumentException("maps need at least two (grid) dimensions", nameof(maps));
        if (factorY <= 0 || factorX <= 0) throw new ArgumentException($"factors must be positive, got {factorY}, {factorX}");
        using var rows = maps.repeat_interleave(factorY, dim: -2);
        return rows.repeat_interleave(factorX, dim: -1);
    }

    /// <summary>
    /// The background colour of each image: per channel the (lower) median of the one-pixel border.
    /// images [B, C, H, W] → [B, C] (float32).
    /// </summary>
    public static Tensor BackgroundValue(Tensor images)
    {
        CheckImages(images);
        using var scope = NewDisposeScope();
        var x = images.detach().to(ScalarType.Float32);
        long h = x.shape[2], w = x.shape[3];
        var border = cat([x[.., .., 0, ..], x[.., .., h - 1, ..], x[.., .., 1..(int)(h - 1), 0], x[.., .., 1..(int)(h - 1), w - 1]], 2);
        var (sorted, _) = border.sort(-1);
        long mid = (sorted.shape[2] - 1) / 2;
        return sorted[.., .., mid].contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Foreground patches: a patch is foreground if any of its pixels differs, in any channel, from the image's
    /// background value (<see cref="BackgroundValue"/>) by more than <paramref name="tolerance"/>.
    /// images [B, C, H, W] → bool [B, H/p, W/p]. Meant for objects on a plain background (synthetic or segmented data).
    /// </summary>
    /// <exception cref="ArgumentException">Bad shape, H or W not divisible by p, or negative tolerance.</exception>
    public static Tensor ForegroundMask(Tensor images, int patchSize, double tolerance = DefaultTolerance)
    {
        CheckImages(images);
        if (patchSize <= 0) throw new ArgumentException($"patch size must be positive, got {patchSize}", nameof(patchSize));
        if (!(tolerance >= 0)) throw new ArgumentException($"tolerance must be non-negative, got {tolerance}", nameof(tolerance));
        long b = images.shape[0], c = images.shape[1], h = images.shape[2], w = images.shape[3];
        if (h % patchSize != 0 || w % patchSize != 0)
            throw new ArgumentException($"image size {h}×{w} is not divisible by the patch size {patchSize}", nameof(images));
        using var scope = NewDisposeScope();
        var x = images.detach().to(ScalarType.Float32);
        var bg = BackgroundValue(x).view(b, c, 1, 1);
        var differs = (x - bg).abs().gt(tolerance).any(1);                                          // [B, H, W]
        long gh = h / patchSize, gw = w / patchSize;
        var perPatch = differs.view(b, gh, patchSize, gw, patchSize).any(4).any(2);                 // [B, gh, gw]
        return perPatch.contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Foreground concentration of saliency: per image, ratio = (share of saliency mass on foreground patches) /
    /// (share of patches that are foreground). 1 means no preference, &gt; 1 means attention concentrates on the
    /// object. Images whose foreground share is 0 or 1 (or whose saliency sums to 0) are skipped and counted.
    /// </summary>
    /// <param name="saliency">Non-negative maps [B, gh, gw] (e.g. the head average of <see cref="ClsMaps"/>, or one head).</param>
    /// <param name="foreground">Boolean foreground mask [B, gh, gw] (e.g. from <see cref="ForegroundMask"/>).</param>
    /// <exception cref="ArgumentException">Shapes differ or are not [B, gh, gw], or the mask is not boolean.</exception>
    public static ForegroundRatioResult ForegroundRatio(Tensor saliency, Tensor foreground)
    {
        ArgumentNullException.ThrowIfNull(saliency);
        ArgumentNullException.ThrowIfNull(foreground);
        if (saliency.dim() != 3) throw new ArgumentException($"saliency must be [B, gh, gw], got [{string.Join(", ", saliency.shape)}]", nameof(saliency));
        if (!saliency.shape.SequenceEqual(foreground.shape))
            throw new ArgumentException($"foreground mask [{string.Join(", ", foreground.shape)}] does not match saliency [{string.Join(", ", saliency.shape)}]", nameof(foreground));
        if (foreground.dtype != ScalarType.Bool) throw new ArgumentException($"foreground mask must be boolean, got {foreground.dtype}", nameof(foreground));

        using var scope = NewDisposeScope();
        long b = saliency.shape[0];
        var s = saliency.detach().to(ScalarType.Float64).flatten(1).cpu();                          // [B, L]
        var fg = foreground.flatten(1).cpu();
        var mass = (s * fg).sum(1).data<double>().ToArray();
        var total = s.sum(1).data<double>().ToArray();
        var share = fg.to(ScalarType.Float64).mean([1]).data<double>().ToArray();

        var perImage = new double[b];
        var used = new List<double>();
        for (int i = 0; i < b; i++)
        {
            if (share[i] <= 0 || share[i] >= 1 || !(total[i] > 0))
            {
                perImage[i] = double.NaN;
                continue;
            }
            perImage[i] = mass[i] / total[i] / share[i];
            used.Add(perImage[i]);
        }
        if (used.Count == 0) return new ForegroundRatioResult(double.NaN, double.NaN, 0, (int)b, perImage);
        var stats = SampleStatistics.Of(used);
        return new ForegroundRatioResult(stats.Mean, stats.Std, used.Count, (int)b - used.Count, perImage);
    }

    private static void CheckImages(Tensor images)
    {
        ArgumentNullException.ThrowIfNull(images);
        if (images.dim() != 4)
            throw new ArgumentException($"images must be [B, C, H, W], got [{string.Join(", ", images.shape)}]", nameof(images));
        if (images.shape[2] < 2 || images.shape[3] < 2)
            throw new ArgumentException($"images must be at least 2×2 pixels, got {images.shape[2]}×{images.shape[3]}", nameof(images));
    }
}
