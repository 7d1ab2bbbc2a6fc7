namespace CrateMae.Data;

/// <summary>
/// Crops a random region and resizes it to size × size, sampling the region exactly as torchvision's
/// <c>RandomResizedCrop.get_params</c> does: up to 10 tries of area fraction ~ U(scale) and log aspect ratio ~ U(log ratio),
/// then a fallback centre crop clamped to the ratio range. Defaults follow MAE pre-training: scale (0.2, 1.0), ratio (3/4, 4/3),
/// bicubic.
/// </summary>
public sealed class RandomResizedCrop : IImageTransform
{
    /// <summary>Creates the transform.</summary>
    /// <exception cref="ArgumentOutOfRangeException">When the size is not positive or a range is empty / non-positive.</exception>
    public RandomResizedCrop(int size, double minScale = 0.2, double maxScale = 1.0, double minRatio = 3.0 / 4.0, double maxRatio = 4.0 / 3.0,
                             Interpolation interpolation = Interpolation.Bicubic, bool antialias = true)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(size);
        if (!(minScale > 0) || !(maxScale >= minScale) || maxScale > 1)
            throw new ArgumentOutOfRangeException(nameof(minScale), $"RandomResizedCrop: scale range ({minScale}, {maxScale}) must satisfy 0 < min <= max <= 1.");
        if (!(minRatio > 0) || !(maxRatio >= minRatio))
            throw new ArgumentOutOfRangeException(nameof(minRatio), $"RandomResizedCrop: ratio range ({minRatio}, {maxRatio}) must satisfy 0 < min <= max.");
        Size = size;
        MinScale = minScale;
        MaxScale = maxScale;
        MinRatio = minRatio;
        MaxRatio = maxRatio;
        Interpolation = interpolation;
        Antialias = antialias;
    }

    /// <summary>Output side length.</summary>
    public int Size { get; }

    /// <summary>Smallest area fraction.</summary>
    public double MinScale { get; }

    /// <summary>Largest area fraction.</summary>
    public double MaxScale { get; }

    /// <summary>Smallest aspect ratio (width / height).</summary>
    public double MinRatio { get; }

    /// <summary>Largest aspect ratio (width / height).</summary>
    public double MaxRatio { get; }

    /// <summary>The resampling filter.</summary>
    public Interpolation Interpolation { get; }

    /// <summary>Whether downscaling is antialiased.</summary>
    public bool Antialias { get; }

    /// <summary>Samples the crop box for an image of <paramref name="height"/> × <paramref name="width"/>.</summary>
    public (int Top, int Left, int Height, int Width) GetParams(int height, int width, SampleRandom random)
    {
        ArgumentNullException.ThrowIfNull(random);
        double area = (double)height * width;
        double logMin = Math.Log(MinRatio), logMax = Math.Log(MaxRatio);
        for (int attempt = 0; attempt < 10; attempt++)
        {
            double targetArea = area * random.NextDouble(MinScale, MaxScale);
            double aspect = Math.Exp(random.NextDouble(logMin, logMax));
            int w = (int)Math.Round(Math.Sqrt(targetArea * aspect), MidpointRounding.ToEven);
            int h = (int)Math.Round(Math.Sqrt(targetArea / aspect), MidpointRounding.ToEven);
            if (w > 0 && w <= width && h > 0 && h <= height)
            {
                int top = random.NextInt(height - h + 1);
                int left = random.NextInt(width - w + 1);
                return (top, left, h, w);
            }
        }
        // Fallback: central crop with the aspect ratio clamped to the range.
        double inRatio = (double)width / height;
        int cw, ch;
        if (inRatio < MinRatio)
        {
            cw = width;
            ch = Math.Max(1, Math.Min(height, (int)Math.Round(cw / MinRatio, MidpointRounding.ToEven)));
        }
        else if (inRatio > MaxRatio)
        {
            ch = height;
            cw = Math.Max(1, Math.Min(width, (int)Math.Round(ch * MaxRatio, MidpointRounding.ToEven)));
        }
        else
        {
            cw = width;
            ch = height;
        }
        return ((height - ch) / 2, (width - cw) / 2, ch, cw);
    }

    /// <inheritdoc />
    public FloatImage Apply(FloatImage image, SampleRandom random)
    {
        ArgumentNullException.ThrowIfNull(image);
        var (top, left, h, w) = GetParams(image.Height, image.Width, random);
        return Resampler.Resample(image, top, left, h, w, Size, Size, Interpolation, Antialias);
    }
}
