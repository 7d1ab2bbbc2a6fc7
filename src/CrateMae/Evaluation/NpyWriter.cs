using System.Globalization;
using System.Text;
using CrateMae.IO;
using static TorchSharp.torch;

namespace CrateMae.Evaluation;

/// <summary>
/// Writes tensors as NumPy <c>.npy</c> files: format version 1.0, little-endian, C (row-major) order, the header
/// dictionary padded with spaces and a final newline so that magic + version + length + header is a multiple of 64
/// bytes. Files are written atomically (temporary file in the same directory, then renamed).
/// </summary>
public static class NpyWriter
{
    private static readonly byte[] Magic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0];

    /// <summary>The NumPy dtype string for each supported tensor dtype.</summary>
    public static string Descr(ScalarType dtype) => dtype switch
    {
        ScalarType.Float32 => "<f4",
        ScalarType.Float64 => "<f8",
        ScalarType.Int64 => "<i8",
        ScalarType.Int32 => "<i4",
        ScalarType.Int16 => "<i2",
        ScalarType.Int8 => "|i1",
        ScalarType.Byte => "|u1",
        ScalarType.Bool => "|b1",
        _ => throw new ArgumentException($"cannot write {dtype} to .npy; supported: float32, float64, int64, int32, int16, int8, uint8, bool"),
    };

    /// <summary>The complete header (magic … newline) for <paramref name="dtype"/> and <paramref name="shape"/>.</summary>
    public static byte[] Header(ScalarType dtype, ReadOnlySpan<long> shape)
    {
        string dims = shape.Length switch
        {
            0 => "()",
            1 => $"({shape[0].ToString(CultureInfo.InvariantCulture)},)",
            _ => "(" + string.Join(", ", shape.ToArray().Select(d => d.ToString(CultureInfo.InvariantCulture))) + ")",
        };
        var dict = $"{{'descr': '{Descr(dtype)}', 'fortran_order': False, 'shape': {dims}, }}";
        int unpadded = Magic.Length + 2 + dict.Length + 1;                  // + uint16 length + '\n'
        int total = (unpadded + 63) / 64 * 64;
        int headerLen = total - Magic.Length - 2;
        if (headerLen > ushort.MaxValue)
            throw new ArgumentException($"shape {dims} gives a header of {headerLen} bytes, too long for .npy format 1.0");
        var text = dict.PadRight(headerLen - 1) + "\n";
        var bytes = new byte[total];
        Magic.CopyTo(bytes, 0);
        bytes[8] = (byte)(headerLen & 0xff);
        bytes[9] = (byte)(headerLen >> 8);
        Encoding.ASCII.GetBytes(text, 0, text.Length, bytes, 10);
        return bytes;
    }

    /// <summary>
    /// Writes <paramref name="tensor"/> (any device, any strides; copied to a contiguous CPU tensor) to
    /// <paramref name="path"/>, replacing an existing file atomically. The parent directory is created if needed.
    /// </summary>
    public static void Write(string path, Tensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("NpyWriter writes little-endian data and needs a little-endian host");
        var header = Header(tensor.dtype, tensor.shape);
        using var scope = NewDisposeScope();
        var data = tensor.detach().cpu().contiguous();
        AtomicFile.Write(path, s =>
        {
            s.Write(header);
            if (data.numel() > 0) data.WriteBytesToStream(s);
        });
    }
}
