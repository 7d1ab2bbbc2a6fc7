namespace CrateMae.Data;

/// <summary>
/// Resizes an image. With one size the shorter side becomes that size and the aspect ratio is kept (torchvision
/// <c>Resize(int)</c>: the longer side is <c>int(size * long / short)</c>); with two sizes the output is exactly height × width.
/// </summary>
public sealed class Resize : IImageTransform
{
    /// <summary>Resize so the shorter side equals <paramref name="shorterSide"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">When the size is not positive.</exception>
    public Resize(int shorterSide, Interpolation interpolation = Interpolation.Bilinear, bool antialias = true)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(shorterSide);
        ShorterSide = shorterSide;
        Interpolation = interpolation;
        Antialias = antialias;
    }

    /// <summary>Resize to exactly <paramref name="height"/> × <paramref name="width"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">When a size is not positive.</exception>
    public Resize(int height, int width, Interpolation interpolation = Interpolation.Bilinear, bool antialias = true)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        Height = height;
        Width = width;
        Interpolation = interpolation;
        Antialias = antialias;
    }

    /// <summary>Target shorter side, when constructed with one size.</summary>
    public int? ShorterSide { get; }

    /// <summary>Exact target height, when constructed with two sizes.</summary>
    public int? Height { get; }

    /// <summary>Exact target width, when constructed with two sizes.</summary>
    public int? Width { get; }

    /// <summary>The resampling filter.</summary>
    public Interpolation Interpolation { get; }

    /// <summary>Whether the filter is widened when downscaling (PIL / torchvision <c>antialias=True</c>).</summary>
    public bool Antialias { get; }

    /// <summary>The output size for an input of <paramref name="height"/> × <paramref name="width"/>.</summary>
    public (int Height, int Width) OutputSize(int height, int width)
    {
        if (ShorterSide is not { } s) return (Height!.Value, Width!.Value);
        if (width <= height) return (Math.Max(1, (int)((long)s * height / width)), s);
        return (s, Math.Max(1, (int)((long)s * width / height)));
    }

    /// <inheritdoc />
    public FloatImage Apply(FloatImage image, SampleRandom random)
    {
        ArgumentNullException.ThrowIfNull(image);
        var (h, w) = OutputSize(image.Height, image.Width);
        if (h == image.Height && w == image.Width) return image;
        if (ShorterSide is { } s && (long)h * w > Math.Max((long)image.Height * image.Width, (long)MaxAspectRatio * s * s))
            throw new InvalidDataException(
                $"the image is {image.Width}x{image.Height}: scaling its shorter side to {s} would make it {w}x{h}; " +
                $"images more elongated than {MaxAspectRatio}:1 are refused");
        return Resampler.Resample(image, 0, 0, image.Height, image.Width, h, w, Interpolation, Antialias);
    }

    /// <summary>
    /// Shorter-side resizing refuses images whose sides differ by more than this factor when that would enlarge them: a
    /// 1×1,000,000 strip would otherwise become 28×28,000,000 floats before the center crop.
    /// </summary>
    public const int MaxAspectRatio = 256;
}
