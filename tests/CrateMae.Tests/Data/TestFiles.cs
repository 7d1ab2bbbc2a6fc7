using System.Buffers.Binary;
using CrateMae.Data;
using SkiaSharp;

namespace CrateMae.Tests.Data;

/// <summary>Writers for small synthetic dataset files.</summary>
internal static class TestFiles
{
    /// <summary>Deterministic pseudo-random bytes.</summary>
    public static byte[] Bytes(int count, int seed)
    {
        var r = new Random(seed);
        var b = new byte[count];
        r.NextBytes(b);
        return b;
    }

    /// <summary>Writes an MNIST-layout folder with n images of h×w and labels i % 10 for both splits.</summary>
    public static (byte[] Pixels, byte[] Labels) WriteMnistLayout(string dir, int n, int h, int w, bool gzip, int seed = 1)
    {
        var pixels = Bytes(n * h * w, seed);
        var labels = Enumerable.Range(0, n).Select(i => (byte)(i % 10)).ToArray();
        string sfx = gzip ? ".gz" : "";
        foreach (var prefix in new[] { "train", "t10k" })
        {
            IdxFile.Write(System.IO.Path.Combine(dir, $"{prefix}-images-idx3-ubyte{sfx}"), IdxDataType.UInt8, [n, h, w], pixels, gzip);
            IdxFile.Write(System.IO.Path.Combine(dir, $"{prefix}-labels-idx1-ubyte{sfx}"), IdxDataType.UInt8, [n], labels, gzip);
        }
        return (pixels, labels);
    }

    /// <summary>Writes CIFAR records (labelBytes label bytes + 3072 pixel bytes each).</summary>
    public static void WriteCifarBatch(string path, byte[][] labelBytes, byte[] pixels)
    {
        using var fs = System.IO.File.Create(path);
        for (int i = 0; i < labelBytes.Length; i++)
        {
            fs.Write(labelBytes[i]);
            fs.Write(pixels, i * 3072, 3072);
        }
    }

    /// <summary>Encodes an RGB image (CHW bytes) with SkiaSharp.</summary>
    public static void WriteImage(string path, ImageData image, SKEncodedImageFormat format, int quality = 100)
    {
        using var bmp = new SKBitmap(new SKImageInfo(image.Width, image.Height, SKColorType.Rgba8888, SKAlphaType.Opaque));
        for (int y = 0; y < image.Height; y++)
        {
            for (int x = 0; x < image.Width; x++)
            {
                byte r = image[0, y, x];
                byte g = image.Channels == 3 ? image[1, y, x] : r;
                byte b = image.Channels == 3 ? image[2, y, x] : r;
                bmp.SetPixel(x, y, new SKColor(r, g, b));
            }
        }
        using var data = bmp.Encode(format, quality);
        System.IO.File.WriteAllBytes(path, data.ToArray());
    }

    /// <summary>A random RGB image.</summary>
    public static ImageData RandomRgb(int h, int w, int seed) => new(3, h, w, Bytes(3 * h * w, seed));

    /// <summary>
    /// A tiny PNG whose IHDR claims width×height but whose IDAT holds almost no data (a "lying header"):
    /// decoding it for real would need width*height*4 bytes.
    /// </summary>
    public static byte[] PngHeaderOnly(int width, int height)
    {
        var ms = new MemoryStream();
        ms.Write([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]);
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(0), width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = 8; // bit depth
        ihdr[9] = 2; // RGB
        WriteChunk(ms, "IHDR", ihdr);
        WriteChunk(ms, "IDAT", [0x78, 0x9C, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01]); // zlib of one zero byte
        WriteChunk(ms, "IEND", []);
        return ms.ToArray();
    }

    /// <summary>An uncompressed 24-bit BMP of an RGB image (SkiaSharp decodes BMP but cannot encode it).</summary>
    public static void WriteBmp(string path, ImageData image)
    {
        int rowBytes = ((image.Width * 3) + 3) & ~3;
        int size = 54 + (rowBytes * image.Height);
        var b = new byte[size];
        b[0] = (byte)'B';
        b[1] = (byte)'M';
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(2), size);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(10), 54);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(14), 40);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(18), image.Width);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(22), image.Height); // bottom-up
        BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(26), 1);
        BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(28), 24);
        for (int y = 0; y < image.Height; y++)
        {
            int row = 54 + ((image.Height - 1 - y) * rowBytes);
            for (int x = 0; x < image.Width; x++)
            {
                b[row + (3 * x)] = image[2, y, x];
                b[row + (3 * x) + 1] = image[1, y, x];
                b[row + (3 * x) + 2] = image[0, y, x];
            }
        }
        System.IO.File.WriteAllBytes(path, b);
    }

    private static void WriteChunk(Stream s, string type, byte[] data)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(word, data.Length);
        s.Write(word);
        var typed = new byte[4 + data.Length];
        System.Text.Encoding.ASCII.GetBytes(type).CopyTo(typed, 0);
        data.CopyTo(typed, 4);
        s.Write(typed);
        BinaryPrimitives.WriteUInt32BigEndian(word, Crc32(typed));
        s.Write(word);
    }

    private static uint Crc32(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (var b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
        }
        return ~crc;
    }
}
