namespace CrateMae.Data;

/// <summary>
/// Crops the centre height × width region (torchvision <c>CenterCrop</c>: offsets <c>round((H - h) / 2)</c>; an image smaller than
/// the crop is zero-padded symmetrically first).
/// </summary>
public sealed class CenterCrop : IImageTransform
{
    /// <summary>Square crop of side <paramref name="size"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">When the size is not positive.</exception>
    public CenterCrop(int size) : this(size, size)
    {
    }

    /// <summary>Crop of <paramref name="height"/> × <paramref name="width"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">When a size is not positive.</exception>
    public CenterCrop(int height, int width)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        Height = height;
        Width = width;
    }

    /// <summary>Crop height.</summary>
    public int Height { get; }

    /// <summary>Crop width.</summary>
    public int Width { get; }

    /// <inheritdoc />
    public FloatImage Apply(FloatImage image, SampleRandom random)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (image.Height == Height && image.Width == Width) return image;
        int top = Offset(image.Height, Height), left = Offset(image.Width, Width);
        return Crop(image, top, left, Height, Width);
    }

    /// <summary>
    /// Copies the region (top, left, height, width) of <paramref name="image"/> into a new image; parts outside the source are zero.
    /// </summary>
    public static FloatImage Crop(FloatImage image, int top, int left, int height, int width)
    {
        ArgumentNullException.ThrowIfNull(image);
        var result = new FloatImage(image.Channels, height, width);
        int y0 = Math.Max(0, -top), y1 = Math.Min(height, image.Height - top);
        int x0 = Math.Max(0, -left), x1 = Math.Min(width, image.Width - left);
        if (y1 <= y0 || x1 <= x0) return result;
        for (int c = 0; c < image.Channels; c++)
            for (int y = y0; y < y1; y++)
                Array.Copy(image.Data, ((c * image.Height) + top + y) * image.Width + left + x0,
                           result.Data, ((c * height) + y) * width + x0, x1 - x0);
        return result;
    }

    private static int Offset(int have, int want) =>
        have >= want ? (int)Math.Round((have - want) / 2.0, MidpointRounding.ToEven) : -((want - have) / 2);
}
