namespace CrateMae.Data;

/// <summary>
/// A decoded 8-bit image in <b>planar CHW</b> layout: <c>Pixels[(c * Height + y) * Width + x]</c>, channel order R,G,B for
/// 3-channel images, a single luminance plane for 1-channel images. Values are 0..255.
/// Datasets hand out a fresh instance per call, so the caller may modify it.
/// </summary>
public sealed class ImageData
{
    /// <summary>Wraps <paramref name="pixels"/> (not copied) as a CHW image.</summary>
    /// <exception cref="ArgumentException">When the channel count is not 1 or 3, a size is not positive, or the buffer length is not C*H*W.</exception>
    public ImageData(int channels, int height, int width, byte[] pixels)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        if (channels is not (1 or 3))
            throw new ArgumentException($"ImageData: channels must be 1 or 3, got {channels}.", nameof(channels));
        if (height <= 0 || width <= 0)
            throw new ArgumentException($"ImageData: height and width must be positive, got {height}x{width}.");
        if (pixels.LongLength != (long)channels * height * width)
            throw new ArgumentException(
                $"ImageData: pixel buffer has {pixels.LongLength} bytes, expected C*H*W = {channels}*{height}*{width} = {(long)channels * height * width}.",
                nameof(pixels));
        Channels = channels;
        Height = height;
        Width = width;
        Pixels = pixels;
    }

    /// <summary>Number of channels: 1 (gray) or 3 (RGB).</summary>
    public int Channels { get; }

    /// <summary>Height in pixels.</summary>
    public int Height { get; }

    /// <summary>Width in pixels.</summary>
    public int Width { get; }

    /// <summary>The pixel bytes in planar CHW order (see the class remarks).</summary>
    public byte[] Pixels { get; }

    /// <summary>The byte at channel <paramref name="c"/>, row <paramref name="y"/>, column <paramref name="x"/>.</summary>
    public byte this[int c, int y, int x] => Pixels[((c * Height) + y) * Width + x];

    /// <summary>Converts to a <see cref="FloatImage"/> with values in [0, 1] (byte / 255), same CHW layout.</summary>
    public FloatImage ToFloat()
    {
        var data = new float[Pixels.Length];
        const float inv = 1f / 255f;
        var src = Pixels;
        for (int i = 0; i < src.Length; i++) data[i] = src[i] * inv;
        return new FloatImage(Channels, Height, Width, data);
    }
}
