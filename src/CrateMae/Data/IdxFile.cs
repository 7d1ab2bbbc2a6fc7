using System.Buffers.Binary;
using System.IO.Compression;
using CrateMae.IO;

namespace CrateMae.Data;

/// <summary>
/// An IDX file (the MNIST / Fashion-MNIST container): a 4-byte magic <c>00 00 type ndim</c>, <c>ndim</c> big-endian
/// 32-bit dimension sizes, then the elements in row-major order (multi-byte types big-endian). Plain and gzip-compressed
/// files are both accepted (detected by the gzip magic bytes, not by the file name).
/// </summary>
/// <remarks>
/// The reader never trusts the header for allocation: for a plain file the declared size must equal the file length
/// before anything is allocated; for a gzip file the buffer grows only as decompressed data actually arrives, and the
/// stream must end exactly where the header says it does.
/// </remarks>
public sealed class IdxFile
{
    private const int MaxDimensions = 16;
    private const int InitialGzipChunk = 1 << 20;
    private const string OwnErrorKey = "CrateMae.IdxFile";

    private IdxFile(string path, IdxDataType dataType, int[] dimensions, byte[] data)
    {
        Path = path;
        DataType = dataType;
        Dimensions = dimensions;
        Data = data;
    }

    /// <summary>The file the data was read from.</summary>
    public string Path { get; }

    /// <summary>Element type.</summary>
    public IdxDataType DataType { get; }

    /// <summary>Dimension sizes, outermost first (e.g. [60000, 28, 28] for an image file).</summary>
    public IReadOnlyList<int> Dimensions { get; }

    /// <summary>Raw element bytes in file order (big-endian for multi-byte types).</summary>
    public byte[] Data { get; }

    /// <summary>Total number of elements (product of <see cref="Dimensions"/>).</summary>
    public long ElementCount => Data.LongLength / ElementSize(DataType);

    /// <summary>Size in bytes of one element of <paramref name="type"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">For an unknown type code.</exception>
    public static int ElementSize(IdxDataType type) => type switch
    {
        IdxDataType.UInt8 or IdxDataType.Int8 => 1,
        IdxDataType.Int16 => 2,
        IdxDataType.Int32 or IdxDataType.Float32 => 4,
        IdxDataType.Float64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(type), $"Unknown IDX element type 0x{(byte)type:X2}."),
    };

    /// <summary>
    /// Reads and validates an IDX file (plain or gzip).
    /// </summary>
    /// <param name="path">The file.</param>
    /// <param name="expectedType">When given, the element type the caller requires.</param>
    /// <param name="expectedDimensions">When given, the number of dimensions the caller requires.</param>
    /// <exception cref="FileNotFoundException">When the file does not exist.</exception>
    /// <exception cref="InvalidDataException">
    /// On a bad magic number, an unknown type, an unexpected type or dimension count, a declared size that does not
    /// match the file length (truncated or trailing data), or a corrupt gzip stream. The message names the file.
    /// </exception>
    public static IdxFile Read(string path, IdxDataType? expectedType = null, int? expectedDimensions = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var file = InputFile.OpenRead(path, "IDX file");
        bool gzip = IsGzip(file);
        try
        {
            if (!gzip)
                return ReadPlain(file, path, expectedType, expectedDimensions);
            using var gz = new GZipStream(file, CompressionMode.Decompress);
            using var buffered = new BufferedStream(gz, 1 << 16);
            return ReadGzip(buffered, path, expectedType, expectedDimensions);
        }
        catch (InvalidDataException e) when (!e.Data.Contains(OwnErrorKey))
        {
            // GZipStream's own errors do not name the file.
            throw new InvalidDataException($"IDX file '{path}': corrupt gzip data ({e.Message}).", e);
        }
    }

    /// <summary>
    /// Writes an IDX file (used by tests and tools). With <paramref name="gzip"/> the output is gzip-compressed.
    /// </summary>
    /// <exception cref="ArgumentException">When the data length does not match the dimensions and type.</exception>
    public static void Write(string path, IdxDataType type, IReadOnlyList<int> dimensions, byte[] data, bool gzip = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(dimensions);
        ArgumentNullException.ThrowIfNull(data);
        if (dimensions.Count is < 1 or > 255)
            throw new ArgumentException($"IdxFile.Write: 1..255 dimensions required, got {dimensions.Count}.", nameof(dimensions));
        long count = 1;
        foreach (var d in dimensions)
        {
            if (d < 0) throw new ArgumentException($"IdxFile.Write: negative dimension {d}.", nameof(dimensions));
            count *= d;
        }
        if (count * ElementSize(type) != data.LongLength)
            throw new ArgumentException(
                $"IdxFile.Write: dimensions [{string.Join(",", dimensions)}] of {type} need {count * ElementSize(type)} bytes, got {data.LongLength}.",
                nameof(data));

        using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None);
        using Stream target = gzip ? new GZipStream(file, CompressionLevel.Fastest) : file;
        Span<byte> header = stackalloc byte[4];
        header[0] = 0;
        header[1] = 0;
        header[2] = (byte)type;
        header[3] = (byte)dimensions.Count;
        target.Write(header);
        foreach (var d in dimensions)
        {
            BinaryPrimitives.WriteInt32BigEndian(header, d);
            target.Write(header);
        }
        target.Write(data);
    }

    private static bool IsGzip(FileStream file)
    {
        Span<byte> magic = stackalloc byte[2];
        int n = file.ReadAtLeast(magic, 2, throwOnEndOfStream: false);
        file.Position = 0;
        return n == 2 && magic[0] == 0x1F && magic[1] == 0x8B;
    }

    private static (IdxDataType Type, int[] Dims, long DataBytes, int HeaderBytes) ReadHeader(
        Stream s, string path, IdxDataType? expectedType, int? expectedDimensions)
    {
        Span<byte> magic = stackalloc byte[4];
        int got = s.ReadAtLeast(magic, 4, throwOnEndOfStream: false);
        if (got < 4)
            throw Fail($"IDX file '{path}' is truncated: it has {got} bytes, less than the 4-byte magic number.");
        if (magic[0] != 0 || magic[1] != 0)
            throw Fail(
                $"IDX file '{path}' has a bad magic number 0x{magic[0]:X2}{magic[1]:X2}{magic[2]:X2}{magic[3]:X2}: " +
                "expected 0x0000 followed by a type byte and a dimension count (e.g. 0x00000803 for images, 0x00000801 for labels).");
        var type = (IdxDataType)magic[2];
        if (!Enum.IsDefined(type))
            throw Fail(
                $"IDX file '{path}' has an unknown element type 0x{magic[2]:X2}: expected 0x08, 0x09, 0x0B, 0x0C, 0x0D or 0x0E.");
        if (expectedType is { } et && type != et)
            throw Fail(
                $"IDX file '{path}' holds {type} (0x{(byte)type:X2}) elements, expected {et} (0x{(byte)et:X2}).");
        int ndim = magic[3];
        if (ndim is 0 or > MaxDimensions)
            throw Fail($"IDX file '{path}' declares {ndim} dimensions, expected 1..{MaxDimensions}.");
        if (expectedDimensions is { } ed && ndim != ed)
            throw Fail(
                $"IDX file '{path}' has {ndim} dimensions, expected {ed} (magic 0x0000{(byte)type:X2}{ed:X2}).");

        Span<byte> dimBytes = stackalloc byte[4 * MaxDimensions];
        dimBytes = dimBytes[..(4 * ndim)];
        got = s.ReadAtLeast(dimBytes, dimBytes.Length, throwOnEndOfStream: false);
        if (got < dimBytes.Length)
            throw Fail(
                $"IDX file '{path}' is truncated inside its header: {ndim} dimension sizes need {4 * ndim} bytes after the magic, found {got}.");
        var dims = new int[ndim];
        long elements = 1;
        for (int i = 0; i < ndim; i++)
        {
            uint d = BinaryPrimitives.ReadUInt32BigEndian(dimBytes.Slice(4 * i, 4));
            if (d > int.MaxValue)
                throw Fail($"IDX file '{path}': dimension {i} has the implausible size {d}.");
            dims[i] = (int)d;
            elements *= d;
            if (elements * ElementSize(type) > Array.MaxLength)
                throw Fail(
                    $"IDX file '{path}': dimensions [{string.Join(",", dims.Take(i + 1))}...] declare more than {Array.MaxLength} bytes of data; refusing.");
        }
        return (type, dims, elements * ElementSize(type), 4 + (4 * ndim));
    }

    private static IdxFile ReadPlain(FileStream s, string path, IdxDataType? expectedType, int? expectedDimensions)
    {
        var (type, dims, dataBytes, headerBytes) = ReadHeader(s, path, expectedType, expectedDimensions);
        long expectedLength = headerBytes + dataBytes;
        long actual = s.Length;
        if (actual < expectedLength)
            throw Fail(
                $"IDX file '{path}' is truncated: its header declares [{string.Join(",", dims)}] {type} elements = {expectedLength} bytes in total, " +
                $"but the file has {actual} bytes.");
        if (actual > expectedLength)
            throw Fail(
                $"IDX file '{path}' has {actual - expectedLength} bytes of trailing data: its header declares [{string.Join(",", dims)}] {type} elements = " +
                $"{expectedLength} bytes in total, the file has {actual}.");
        var data = new byte[dataBytes];
        s.ReadExactly(data);
        return new IdxFile(path, type, dims, data);
    }

    private static IdxFile ReadGzip(Stream s, string path, IdxDataType? expectedType, int? expectedDimensions)
    {
        var (type, dims, dataBytes, headerBytes) = ReadHeader(s, path, expectedType, expectedDimensions);
        // Grow the buffer only as data actually arrives, so a lying header cannot cause a huge allocation.
        var data = new byte[Math.Min(dataBytes, InitialGzipChunk)];
        long filled = 0;
        while (filled < dataBytes)
        {
            if (filled == data.LongLength)
                Array.Resize(ref data, (int)Math.Min(dataBytes, Math.Max(2L * data.LongLength, InitialGzipChunk)));
            int n = s.Read(data, (int)filled, (int)(data.LongLength - filled));
            if (n == 0)
                throw Fail(
                    $"IDX file '{path}' is truncated: its header declares [{string.Join(",", dims)}] {type} elements = {dataBytes} data bytes, " +
                    $"but the decompressed stream ends after {filled} data bytes ({headerBytes + filled} bytes in total).");
            filled += n;
        }
        Span<byte> probe = stackalloc byte[1];
        if (s.Read(probe) != 0)
            throw Fail(
                $"IDX file '{path}' has trailing data: the decompressed stream continues after the {headerBytes + dataBytes} bytes its header " +
                $"[{string.Join(",", dims)}] declares.");
        return new IdxFile(path, type, dims, data);
    }

    /// <summary>Creates a format error marked as the reader's own (already descriptive) so it is not wrapped again.</summary>
    private static InvalidDataException Fail(string message)
    {
        var e = new InvalidDataException(message);
        e.Data[OwnErrorKey] = true;
        return e;
    }
}
