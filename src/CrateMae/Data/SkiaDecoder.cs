using System.Runtime.InteropServices;
using SkiaSharp;
using CrateMae.IO;

namespace CrateMae.Data;

/// <summary>Decodes image files with SkiaSharp into 8-bit RGB planar CHW buffers, checking the header size first.</summary>
internal static class SkiaDecoder
{
    /// <summary>Reads only the header: the (width, height) of <paramref name="path"/>.</summary>
    /// <exception cref="InvalidDataException">When the file is empty, not a decodable image, or larger than <paramref name="maxPixels"/>.</exception>
    public static (int Width, int Height) ReadSize(string path, long maxPixels)
    {
        using var codec = OpenCodec(path);
        return CheckSize(codec, path, maxPixels);
    }

    /// <summary>Decodes <paramref name="path"/> into a 3-channel (RGB, alpha dropped) planar CHW <see cref="ImageData"/>.</summary>
    /// <exception cref="InvalidDataException">When the file is empty, undecodable, truncated, or larger than <paramref name="maxPixels"/>.</exception>
    public static ImageData DecodeRgb(string path, long maxPixels)
    {
        using var codec = OpenCodec(path);
        var (w, h) = CheckSize(codec, path, maxPixels);
        var info = new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        var rgba = new byte[(long)w * h * 4];
        var handle = GCHandle.Alloc(rgba, GCHandleType.Pinned);
        SKCodecResult result;
        try
        {
            result = codec.GetPixels(info, handle.AddrOfPinnedObject());
        }
        finally
        {
            handle.Free();
        }
        if (result != SKCodecResult.Success)
        {
            string why = result == SKCodecResult.IncompleteInput ? "the file is truncated (incomplete image data)" : $"decoding failed ({result})";
            throw new InvalidDataException($"Image file '{path}': {why}.");
        }

        int plane = w * h;
        var chw = new byte[3L * plane];
        for (int i = 0, s = 0; i < plane; i++, s += 4)
        {
            chw[i] = rgba[s];
            chw[plane + i] = rgba[s + 1];
            chw[(2 * plane) + i] = rgba[s + 2];
        }
        return new ImageData(3, h, w, chw);
    }

    private static SKCodec OpenCodec(string path)
    {
        FileInfo fi = new(path);
        if (!fi.Exists)
            throw new FileNotFoundException($"Image file '{path}' does not exist (was it removed after the folder was scanned?).", path);
        InputFile.RequireRegular(path, "Image file");
        if (fi.Length == 0)
            throw new InvalidDataException($"Image file '{path}' is empty (0 bytes).");
        try
        {
            // SkiaSharp reports an unopenable file (broken link, no permission, I/O error) as an undecodable image.
            using var probe = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidDataException($"Image file '{path}' cannot be read ({e.Message.TrimEnd('.')}).", e);
        }
        var codec = SKCodec.Create(path, out var result);
        return codec ?? throw new InvalidDataException(
            $"Image file '{path}' ({fi.Length} bytes) is not a decodable PNG/JPEG/BMP/WebP/GIF image (SkiaSharp: {result}).");
    }

    private static (int Width, int Height) CheckSize(SKCodec codec, string path, long maxPixels)
    {
        var info = codec.Info;
        if (info.Width <= 0 || info.Height <= 0)
            throw new InvalidDataException($"Image file '{path}' declares an invalid size {info.Width}x{info.Height}.");
        long pixels = (long)info.Width * info.Height;
        if (pixels > maxPixels)
            throw new InvalidDataException(
                $"Image file '{path}' is {info.Width}x{info.Height} = {pixels / 1e6:0.#} megapixels, more than the limit of {maxPixels / 1e6:0.#} megapixels; refusing to decode it.");
        return (info.Width, info.Height);
    }
}
