namespace CrateMae.Data;

/// <summary>
/// Converts between gray and RGB: 1 → 3 replicates the plane, 3 → 1 uses ITU-R 601 luma <c>0.299 R + 0.587 G + 0.114 B</c>
/// (as PIL's <c>convert("L")</c>). An image that already has the target count is returned unchanged.
/// </summary>
public sealed class ConvertChannels : IImageTransform
{
    /// <summary>Creates the transform.</summary>
    /// <exception cref="ArgumentOutOfRangeException">When <paramref name="channels"/> is not 1 or 3.</exception>
    public ConvertChannels(int channels)
    {
        if (channels is not (1 or 3))
            throw new ArgumentOutOfRangeException(nameof(channels), channels, "ConvertChannels: target must be 1 or 3 channels.");
        Channels = channels;
    }

    /// <summary>Target channel count.</summary>
    public int Channels { get; }

    /// <inheritdoc />
    public FloatImage Apply(FloatImage image, SampleRandom random) => Convert(image, Channels);

    /// <summary>Converts <paramref name="image"/> to <paramref name="channels"/> channels (see the class remarks).</summary>
    /// <exception cref="ArgumentException">When the conversion is not 1↔3.</exception>
    public static FloatImage Convert(FloatImage image, int channels)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (image.Channels == channels) return image;
        int plane = image.PlaneSize;
        if (image.Channels == 1 && channels == 3)
        {
            var data = new float[3 * plane];
            for (int c = 0; c < 3; c++) Array.Copy(image.Data, 0, data, c * plane, plane);
            return new FloatImage(3, image.Height, image.Width, data);
        }
        if (image.Channels == 3 && channels == 1)
        {
            var data = new float[plane];
            var s = image.Data;
            for (int i = 0; i < plane; i++)
                data[i] = (0.299f * s[i]) + (0.587f * s[plane + i]) + (0.114f * s[(2 * plane) + i]);
            return new FloatImage(1, image.Height, image.Width, data);
        }
        throw new ArgumentException($"ConvertChannels: cannot convert {image.Channels} channels to {channels} (only 1 and 3 are supported).", nameof(image));
    }
}
