using CrateMae.Analysis;
using CrateMae.Data;
using static TorchSharp.torch;

namespace CrateMae.Reporting;

/// <summary>
/// Layout shared by the analysis figures: an <see cref="ImageGrid"/> with 4-pixel gaps and a 20-pixel caption row, so
/// that with panels of P×Q pixels, c columns and r rows the picture is c·Q + (c + 1)·4 wide and 20 + r·P + (r + 1)·4
/// high (as long as the captions fit the panels); and the conversion of model inputs to displayable pixels.
/// </summary>
internal static class DisplayImages
{
    /// <summary>Gap between panels and around the grid, in pixels.</summary>
    public const int Gap = 4;

    /// <summary>Caption font size: ImageGrid's header row is ⌈1.5·size⌉ + gap = 16 + 4 = 20 pixels.</summary>
    public const float CaptionSize = 10.5f;

    /// <summary>Default integer scale: panels at least 128 pixels on their longer side.</summary>
    public static int DefaultScale(int height, int width) => Math.Max(1, (int)Math.Ceiling(128.0 / Math.Max(height, width)));

    /// <summary>An empty grid with the analysis layout, captions on top and every panel enlarged <paramref name="scale"/> times.</summary>
    public static ImageGrid Grid(IReadOnlyList<string> captions, int scale)
    {
        if (scale <= 0) throw new ArgumentException($"scale must be positive, got {scale}", nameof(scale));
        return new ImageGrid(captions) { Upscale = scale, Gap = Gap, FontSize = CaptionSize };
    }

    /// <summary>
    /// Images [B, C, H, W] as fed to the model → displayable images in [0, 1] (grey for 1–2 channels, the first three
    /// channels as RGB otherwise). With <paramref name="mean"/>/<paramref name="std"/> (one value, or one per channel)
    /// the normalisation is undone (x·std + mean, clamped); otherwise every image is min–max stretched over its channels.
    /// </summary>
    public static FloatImage[] Pixels(Tensor images, IReadOnlyList<double>? mean, IReadOnlyList<double>? std)
    {
        ArgumentNullException.ThrowIfNull(images);
        if (images.dim() != 4) throw new ArgumentException($"images must be [B, C, H, W], got [{string.Join(", ", images.shape)}]", nameof(images));
        if ((mean is null) != (std is null)) throw new ArgumentException("give both mean and std, or neither");
        long c = images.shape[1];
        if (mean is not null && ((mean.Count != 1 && mean.Count != c) || (std!.Count != 1 && std.Count != c)))
            throw new ArgumentException($"mean/std must have 1 or {c} values");
        using var scope = NewDisposeScope();
        var x = images.detach().to(ScalarType.Float32).cpu();
        x = c >= 3 ? x[.., ..3] : x[.., ..1];
        if (mean is not null)
        {
            int shown = (int)x.shape[1];
            var m = tensor(Enumerable.Range(0, shown).Select(i => (float)mean[mean.Count == 1 ? 0 : i]).ToArray()).view(1, shown, 1, 1);
            var s = tensor(Enumerable.Range(0, shown).Select(i => (float)std![std.Count == 1 ? 0 : i]).ToArray()).view(1, shown, 1, 1);
            x = (x * s + m).clamp(0, 1);
        }
        else
        {
            var lo = x.amin([1, 2, 3], keepdim: true);
            var range = x.amax([1, 2, 3], keepdim: true) - lo;
            x = (x - lo) / where(range.gt(0), range, ones_like(range));
        }
        return Enumerable.Range(0, (int)x.shape[0]).Select(i => FloatImage.FromTensor(x[i])).ToArray();
    }

    /// <summary>A [gh, gw] or [k, gh, gw] map as an image enlarged (nearest) to <paramref name="height"/>×<paramref name="width"/>.</summary>
    public static FloatImage Enlarge(Tensor map, int height, int width)
    {
        var image = FloatImage.FromTensor(map);
        if (height % image.Height != 0 || width % image.Width != 0 || height / image.Height != width / image.Width)
            throw new ArgumentException($"a {image.Height}×{image.Width} grid does not tile a {height}×{width} image evenly");
        return ImageWriter.UpscaleNearest(image, height / image.Height);
    }
}
