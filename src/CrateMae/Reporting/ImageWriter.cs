using System.Runtime.InteropServices;
using CrateMae.Data;
using CrateMae.IO;
using SkiaSharp;
using static TorchSharp.torch;

namespace CrateMae.Reporting;

/// <summary>
/// Converts float images (CHW, values in [0, 1], 1 = gray or 3 = RGB channels) to bitmaps and writes PNG files atomically
/// (temporary file + rename, so a reader never sees a half-written image).
/// </summary>
public static class ImageWriter
{
    /// <summary>
    /// Converts <paramref name="image"/> (1 or 3 channels, values clamped to [0, 1], NaN → 0) to an opaque RGBA bitmap.
    /// The caller disposes the bitmap.
    /// </summary>
    /// <exception cref="ArgumentException">When the image does not have 1 or 3 channels.</exception>
    public static SKBitmap ToBitmap(FloatImage image)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (image.Channels is not (1 or 3))
            throw new ArgumentException($"ImageWriter: expected 1 (gray) or 3 (RGB) channels, got {image.Channels}.", nameof(image));
        int w = image.Width, h = image.Height, plane = image.PlaneSize;
        var rgba = new byte[plane * 4];
        var d = image.Data;
        int g = image.Channels == 3 ? plane : 0, b = image.Channels == 3 ? 2 * plane : 0;
        for (int i = 0, o = 0; i < plane; i++, o += 4)
        {
            rgba[o] = ToByte(d[i]);
            rgba[o + 1] = ToByte(d[g + i]);
            rgba[o + 2] = ToByte(d[b + i]);
            rgba[o + 3] = 255;
        }
        var bitmap = new SKBitmap(new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Opaque));
        IntPtr pixels = bitmap.GetPixels();
        for (int y = 0; y < h; y++)
            Marshal.Copy(rgba, y * w * 4, pixels + (y * bitmap.RowBytes), w * 4);
        return bitmap;
    }

    /// <summary>Converts a (C, H, W) or (H, W) tensor with values in [0, 1] to a bitmap (see <see cref="ToBitmap(FloatImage)"/>).</summary>
    public static SKBitmap ToBitmap(Tensor image) => ToBitmap(FloatImage.FromTensor(image));

    /// <summary>Encodes <paramref name="bitmap"/> as PNG bytes.</summary>
    /// <exception cref="InvalidOperationException">When SkiaSharp fails to encode.</exception>
    public static byte[] EncodePng(SKBitmap bitmap)
    {
        ArgumentNullException.ThrowIfNull(bitmap);
        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100)
            ?? throw new InvalidOperationException($"ImageWriter: SkiaSharp could not encode a {bitmap.Width}x{bitmap.Height} bitmap as PNG.");
        return data.ToArray();
    }

    /// <summary>Writes <paramref name="bitmap"/> to <paramref name="path"/> as PNG, atomically; creates the folder if needed.</summary>
    public static void SavePng(string path, SKBitmap bitmap) => AtomicFile.WriteAllBytes(path, EncodePng(bitmap));

    /// <summary>Writes a float image (CHW, [0, 1]) as PNG, optionally enlarged by an integer factor (nearest neighbour).</summary>
    /// <exception cref="ArgumentOutOfRangeException">When <paramref name="upscale"/> &lt; 1.</exception>
    public static void SavePng(string path, FloatImage image, int upscale = 1)
    {
        using var bitmap = ToBitmap(UpscaleNearest(image, upscale));
        SavePng(path, bitmap);
    }

    /// <summary>Writes a (C, H, W) or (H, W) tensor with values in [0, 1] as PNG (see <see cref="SavePng(string, FloatImage, int)"/>).</summary>
    public static void SavePng(string path, Tensor image, int upscale = 1) => SavePng(path, FloatImage.FromTensor(image), upscale);

    /// <summary>Enlarges <paramref name="image"/> by an integer factor with nearest-neighbour sampling (factor 1 returns the input).</summary>
    /// <exception cref="ArgumentOutOfRangeException">When <paramref name="factor"/> &lt; 1 or the result would be too large.</exception>
    public static FloatImage UpscaleNearest(FloatImage image, int factor)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentOutOfRangeException.ThrowIfLessThan(factor, 1);
        if (factor == 1) return image;
        long outPixels = (long)image.Height * factor * image.Width * factor;
        if (outPixels > 100_000_000)
            throw new ArgumentOutOfRangeException(nameof(factor), factor, $"ImageWriter: upscaling {image.Height}x{image.Width} by {factor} is too large.");
        int oh = image.Height * factor, ow = image.Width * factor;
        var result = new FloatImage(image.Channels, oh, ow);
        for (int c = 0; c < image.Channels; c++)
        {
            for (int y = 0; y < image.Height; y++)
            {
                var src = image.Data.AsSpan(((c * image.Height) + y) * image.Width, image.Width);
                var first = result.Data.AsSpan(((c * oh) + (y * factor)) * ow, ow);
                for (int x = 0; x < src.Length; x++) first.Slice(x * factor, factor).Fill(src[x]);
                for (int r = 1; r < factor; r++) first.CopyTo(result.Data.AsSpan(((c * oh) + (y * factor) + r) * ow, ow));
            }
        }
        return result;
    }

    private static byte ToByte(float v) => float.IsNaN(v) ? (byte)0 : (byte)Math.Clamp((int)MathF.Round(v * 255f), 0, 255);
}
