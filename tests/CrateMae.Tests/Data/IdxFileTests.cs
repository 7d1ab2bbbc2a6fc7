using System.IO.Compression;
using CrateMae.Data;

namespace CrateMae.Tests.Data;

public sealed class IdxFileTests : IDisposable
{
    private readonly TempDirectory _tmp = new();

    public void Dispose() => _tmp.Dispose();

    [Fact]
    public void GivenValidPlainFile_WhenRead_ThenTypeDimensionsAndDataMatch()
    {
        var data = TestFiles.Bytes(3 * 4 * 5, 7);
        var path = _tmp.File("x-idx3-ubyte");
        IdxFile.Write(path, IdxDataType.UInt8, [3, 4, 5], data);

        var idx = IdxFile.Read(path, IdxDataType.UInt8, 3);

        Assert.Equal(IdxDataType.UInt8, idx.DataType);
        Assert.Equal([3, 4, 5], idx.Dimensions);
        Assert.Equal(data, idx.Data);
        Assert.Equal(60, idx.ElementCount);
        Assert.Equal(path, idx.Path);
    }

    [Fact]
    public void GivenGzippedFile_WhenRead_ThenSameContentAsPlain()
    {
        var data = TestFiles.Bytes(2_500_000, 3); // larger than the initial gzip chunk, so the buffer grows
        var path = _tmp.File("big-idx1-ubyte.gz");
        IdxFile.Write(path, IdxDataType.UInt8, [2_500_000], data, gzip: true);

        var idx = IdxFile.Read(path, IdxDataType.UInt8, 1);

        Assert.Equal([2_500_000], idx.Dimensions);
        Assert.Equal(data, idx.Data);
    }

    [Fact]
    public void GivenGzipContentWithoutGzSuffix_WhenRead_ThenDetectedByMagic()
    {
        var path = _tmp.File("labels-no-suffix");
        IdxFile.Write(path, IdxDataType.UInt8, [4], [1, 2, 3, 4], gzip: true);

        Assert.Equal(new byte[] { 1, 2, 3, 4 }, IdxFile.Read(path).Data);
    }

    [Fact]
    public void GivenWrongMagic_WhenRead_ThenInvalidDataNamesFileAndExpectedMagic()
    {
        var path = _tmp.File("bad-magic");
        File.WriteAllBytes(path, [0x12, 0x34, 0x08, 0x01, 0, 0, 0, 1, 5]);

        var e = Assert.Throws<InvalidDataException>(() => IdxFile.Read(path));

        Assert.Contains(path, e.Message);
        Assert.Contains("magic", e.Message);
        Assert.Contains("0x1234", e.Message);
    }

    [Fact]
    public void GivenUnknownElementType_WhenRead_ThenErrorListsKnownTypes()
    {
        var path = _tmp.File("bad-type");
        File.WriteAllBytes(path, [0, 0, 0x07, 0x01, 0, 0, 0, 1, 5]);

        var e = Assert.Throws<InvalidDataException>(() => IdxFile.Read(path));

        Assert.Contains(path, e.Message);
        Assert.Contains("0x07", e.Message);
    }

    [Fact]
    public void GivenLabelFileWhereImagesExpected_WhenRead_ThenErrorStatesDimensionCounts()
    {
        var path = _tmp.File("labels");
        IdxFile.Write(path, IdxDataType.UInt8, [3], [0, 1, 2]);

        var e = Assert.Throws<InvalidDataException>(() => IdxFile.Read(path, IdxDataType.UInt8, expectedDimensions: 3));

        Assert.Contains(path, e.Message);
        Assert.Contains("1 dimensions, expected 3", e.Message);
    }

    [Fact]
    public void GivenTruncatedPlainFile_WhenRead_ThenErrorNamesFileAndBothSizes()
    {
        var path = _tmp.File("trunc");
        IdxFile.Write(path, IdxDataType.UInt8, [10, 2, 2], TestFiles.Bytes(40, 1));
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^7]);

        var e = Assert.Throws<InvalidDataException>(() => IdxFile.Read(path));

        Assert.Contains(path, e.Message);
        Assert.Contains("truncated", e.Message);
        Assert.Contains($"{bytes.Length} bytes", e.Message);
        Assert.Contains($"{bytes.Length - 7} bytes", e.Message);
    }

    [Fact]
    public void GivenTrailingBytes_WhenRead_ThenErrorNamesFile()
    {
        var path = _tmp.File("trailing");
        IdxFile.Write(path, IdxDataType.UInt8, [4], [1, 2, 3, 4]);
        File.AppendAllText(path, "junk");

        var e = Assert.Throws<InvalidDataException>(() => IdxFile.Read(path));

        Assert.Contains(path, e.Message);
        Assert.Contains("trailing", e.Message);
    }

    [Fact]
    public void GivenTruncatedGzStream_WhenRead_ThenErrorNamesFile()
    {
        var path = _tmp.File("trunc.gz");
        // A valid gzip stream whose content is shorter than the header declares.
        using (var fs = File.Create(path))
        using (var gz = new GZipStream(fs, CompressionLevel.Fastest))
        {
            gz.Write([0, 0, 8, 1, 0, 0, 0, 100]);
            gz.Write(new byte[10]);
        }

        var e = Assert.Throws<InvalidDataException>(() => IdxFile.Read(path));

        Assert.Contains(path, e.Message);
        Assert.Contains("truncated", e.Message);
    }

    [Fact]
    public void GivenCutOffGzFile_WhenRead_ThenErrorNamesFile()
    {
        var path = _tmp.File("cut.gz");
        IdxFile.Write(path, IdxDataType.UInt8, [50_000], TestFiles.Bytes(50_000, 5), gzip: true);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);

        var e = Assert.Throws<InvalidDataException>(() => IdxFile.Read(path));

        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void GivenCorruptGzData_WhenRead_ThenErrorNamesFile()
    {
        var path = _tmp.File("corrupt.gz");
        IdxFile.Write(path, IdxDataType.UInt8, [50_000], TestFiles.Bytes(50_000, 5), gzip: true);
        var bytes = File.ReadAllBytes(path);
        for (int i = 20; i < bytes.Length - 8; i += 7) bytes[i] ^= 0x5A;
        File.WriteAllBytes(path, bytes);

        var e = Assert.ThrowsAny<InvalidDataException>(() => IdxFile.Read(path));

        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void GivenHeaderDeclaringPetabytes_WhenRead_ThenRefusedBeforeAllocating()
    {
        var path = _tmp.File("liar");
        File.WriteAllBytes(path, [0, 0, 8, 3, 0x7F, 0xFF, 0xFF, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 1, 2, 3]);

        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<InvalidDataException>(() => IdxFile.Read(path));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Contains(path, e.Message);
        Assert.True(allocated < 16 << 20, $"allocated {allocated} bytes");
    }

    [Fact]
    public void GivenGzHeaderDeclaringOneGigabyteButTinyData_WhenRead_ThenTruncatedWithoutHugeAllocation()
    {
        var path = _tmp.File("liar.gz");
        using (var fs = File.Create(path))
        using (var gz = new GZipStream(fs, CompressionLevel.Fastest))
        {
            gz.Write([0, 0, 8, 3, 0, 0, 0x10, 0, 0, 0, 0x40, 0, 0, 0, 0x10, 0]); // 4096 x 16384 x 4096 = 2^38 bytes: more than an array can hold
            gz.Write(new byte[1000]);
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<InvalidDataException>(() => IdxFile.Read(path));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Contains(path, e.Message);
        Assert.True(allocated < 16 << 20, $"allocated {allocated} bytes");
    }

    [Fact]
    public void GivenPlausibleGzHeaderButShortStream_WhenRead_ThenAllocationStaysNearActualData()
    {
        var path = _tmp.File("liar2.gz");
        using (var fs = File.Create(path))
        using (var gz = new GZipStream(fs, CompressionLevel.Fastest))
        {
            gz.Write([0, 0, 8, 1, 0x40, 0, 0, 0]); // 1 GiB declared
            gz.Write(new byte[3000]);
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<InvalidDataException>(() => IdxFile.Read(path));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Contains("truncated", e.Message);
        Assert.True(allocated < 16 << 20, $"allocated {allocated} bytes");
    }

    [Fact]
    public void GivenMissingFile_WhenRead_ThenFileNotFoundNamesIt()
    {
        var path = _tmp.File("nope");

        var e = Assert.Throws<FileNotFoundException>(() => IdxFile.Read(path));

        Assert.Contains(path, e.Message);
    }
}
