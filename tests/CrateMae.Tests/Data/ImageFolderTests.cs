using CrateMae.Data;
using SkiaSharp;

namespace CrateMae.Tests.Data;

public sealed class ImageFolderTests : IDisposable
{
    private readonly TempDirectory _tmp = new();

    public void Dispose() => _tmp.Dispose();

    [Fact]
    public void GivenClassFoldersWithPngAndJpeg_WhenOpened_ThenClassesSortedAndImagesDecode()
    {
        var png = TestFiles.RandomRgb(7, 9, 1);
        var flat = new ImageData(3, 16, 16, Enumerable.Repeat((byte)200, 3 * 256).ToArray());
        TestFiles.WriteImage(Path.Combine(_tmp.Dir("zebra"), "a.png"), png, SKEncodedImageFormat.Png);
        TestFiles.WriteImage(Path.Combine(_tmp.Dir("Apple"), "b.JPG"), flat, SKEncodedImageFormat.Jpeg, 95);
        TestFiles.WriteImage(Path.Combine(_tmp.Dir("Apple", "nested"), "c.jpeg"), flat, SKEncodedImageFormat.Jpeg, 95);
        File.WriteAllText(Path.Combine(_tmp.Path, "zebra", "notes.txt"), "not an image");

        var ds = ImageFolder.Open(_tmp.Path);

        Assert.Equal(["Apple", "zebra"], ds.ClassNames); // ordinal: upper case first
        Assert.Equal(3, ds.Count);
        Assert.Equal([0, 0, 1], Enumerable.Range(0, 3).Select(ds.GetLabel));
        Assert.Equal(3, ds.Channels);
        Assert.Null(ds.NativeSize);
        Assert.True(ds.IsLabeled);
        Assert.Equal((7, 9), ds.GetImageSize(2));
        Assert.Equal(png.Pixels, ds.ReadImage(2).Pixels); // PNG is lossless
        var jpeg = ds.ReadImage(0);
        Assert.Equal((16, 16), (jpeg.Height, jpeg.Width));
        Assert.All(jpeg.Pixels, b => Assert.InRange(b, 195, 205));
        Assert.Equal(NormalizationStats.ImageNet, ds.DefaultNormalization);
    }

    [Fact]
    public void GivenGrayPng_WhenRead_ThenReplicatedToRgb()
    {
        var gray = new ImageData(1, 4, 5, TestFiles.Bytes(20, 3));
        TestFiles.WriteImage(Path.Combine(_tmp.Path, "g.png"), gray, SKEncodedImageFormat.Png);

        var img = ImageFolder.Open(_tmp.Path).ReadImage(0);

        Assert.Equal(3, img.Channels);
        for (int c = 0; c < 3; c++) Assert.Equal(gray.Pixels, img.Pixels.AsSpan(c * 20, 20).ToArray());
    }

    [Fact]
    public void GivenFlatFolderOfImages_WhenOpened_ThenUnlabeled()
    {
        TestFiles.WriteImage(Path.Combine(_tmp.Path, "1.png"), TestFiles.RandomRgb(4, 4, 1), SKEncodedImageFormat.Png);
        var bmp = TestFiles.RandomRgb(3, 5, 2);
        TestFiles.WriteBmp(Path.Combine(_tmp.Path, "2.bmp"), bmp);
        TestFiles.WriteImage(Path.Combine(_tmp.Path, "3.webp"), TestFiles.RandomRgb(6, 6, 3), SKEncodedImageFormat.Webp, 90);

        var ds = ImageFolder.Open(_tmp.Path);

        Assert.False(ds.IsLabeled);
        Assert.Equal(3, ds.Count);
        Assert.Equal(bmp.Pixels, ds.ReadImage(1).Pixels);
        Assert.Equal((6, 6), (ds.ReadImage(2).Height, ds.ReadImage(2).Width));
        Assert.Equal(0, ds.NumClasses);
        Assert.Empty(ds.ClassNames);
        Assert.Equal(-1, ds.GetLabel(1));
    }

    [Fact]
    public void GivenZeroByteFile_WhenOpened_ThenErrorNamesFileAndSuggestsSkipping()
    {
        TestFiles.WriteImage(Path.Combine(_tmp.Dir("a"), "ok.png"), TestFiles.RandomRgb(4, 4, 1), SKEncodedImageFormat.Png);
        var empty = Path.Combine(_tmp.Path, "a", "empty.png");
        File.WriteAllBytes(empty, []);

        var e = Assert.Throws<InvalidDataException>(() => ImageFolder.Open(_tmp.Path));

        Assert.Contains(empty, e.Message);
        Assert.Contains("0 bytes", e.Message);
        Assert.Contains("SkipBadImages", e.Message);
    }

    [Fact]
    public void GivenZeroByteAndGarbageFiles_WhenOpenedWithSkip_ThenTheyAreSkippedAndCounted()
    {
        TestFiles.WriteImage(Path.Combine(_tmp.Dir("a"), "ok.png"), TestFiles.RandomRgb(4, 4, 1), SKEncodedImageFormat.Png);
        TestFiles.WriteImage(Path.Combine(_tmp.Dir("b"), "ok.jpg"), TestFiles.RandomRgb(4, 4, 2), SKEncodedImageFormat.Jpeg);
        var empty = Path.Combine(_tmp.Path, "a", "empty.png");
        var garbage = Path.Combine(_tmp.Path, "b", "garbage.jpg");
        File.WriteAllBytes(empty, []);
        File.WriteAllBytes(garbage, TestFiles.Bytes(500, 1));

        var ds = ImageFolder.Open(_tmp.Path, new ImageFolderOptions { SkipBadImages = true });

        Assert.Equal(2, ds.Count);
        Assert.Equal(2, ds.SkippedCount);
        Assert.Equal([empty, garbage], ds.SkippedFiles.Select(s => s.Path));
        Assert.All(ds.SkippedFiles, s => Assert.Contains(s.Path, s.Reason));
        Assert.Equal([0, 1], Enumerable.Range(0, 2).Select(ds.GetLabel));
        Assert.Equal(3, ds.ReadImage(1).Channels);
    }

    [Fact]
    public void GivenGarbageFileWithoutValidation_WhenRead_ThenErrorNamesFile()
    {
        var garbage = Path.Combine(_tmp.Path, "x.png");
        File.WriteAllBytes(garbage, TestFiles.Bytes(300, 2));
        var ds = ImageFolder.Open(_tmp.Path);

        var e = Assert.Throws<InvalidDataException>(() => ds.ReadImage(0));

        Assert.Contains(garbage, e.Message);
    }

    [Fact]
    public void GivenTruncatedPng_WhenRead_ThenErrorNamesFile()
    {
        var path = Path.Combine(_tmp.Path, "t.png");
        TestFiles.WriteImage(path, TestFiles.RandomRgb(64, 64, 5), SKEncodedImageFormat.Png);
        File.WriteAllBytes(path, File.ReadAllBytes(path)[..2000]);
        var ds = ImageFolder.Open(_tmp.Path);

        var e = Assert.Throws<InvalidDataException>(() => ds.ReadImage(0));

        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void GivenHeaderClaimingEnormousImage_WhenRead_ThenRefusedBeforeDecoding()
    {
        var path = Path.Combine(_tmp.Path, "huge.png");
        File.WriteAllBytes(path, TestFiles.PngHeaderOnly(20_000, 20_000)); // 400 megapixels, 1.6 GB if decoded
        var ds = ImageFolder.Open(_tmp.Path);

        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<InvalidDataException>(() => ds.ReadImage(0));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Contains(path, e.Message);
        Assert.Contains("megapixels", e.Message);
        Assert.True(allocated < 16 << 20, $"allocated {allocated} bytes");
    }

    [Fact]
    public void GivenEnormousImageAndSkip_WhenOpened_ThenSkippedWithReason()
    {
        TestFiles.WriteImage(Path.Combine(_tmp.Path, "ok.png"), TestFiles.RandomRgb(4, 4, 1), SKEncodedImageFormat.Png);
        File.WriteAllBytes(Path.Combine(_tmp.Path, "huge.png"), TestFiles.PngHeaderOnly(9_000, 9_000));

        var ds = ImageFolder.Open(_tmp.Path, new ImageFolderOptions { SkipBadImages = true });

        Assert.Equal(1, ds.Count);
        var bad = Assert.Single(ds.SkippedFiles);
        Assert.Contains("megapixels", bad.Reason);
    }

    [Fact]
    public void GivenImagesAtTopLevelAndInClassFolders_WhenOpened_ThenErrorExplainsLayouts()
    {
        TestFiles.WriteImage(Path.Combine(_tmp.Path, "top.png"), TestFiles.RandomRgb(4, 4, 1), SKEncodedImageFormat.Png);
        TestFiles.WriteImage(Path.Combine(_tmp.Dir("cls"), "a.png"), TestFiles.RandomRgb(4, 4, 1), SKEncodedImageFormat.Png);

        var e = Assert.Throws<InvalidDataException>(() => ImageFolder.Open(_tmp.Path));

        Assert.Contains("top.png", e.Message);
        Assert.Contains("root/<class>/<images>", e.Message);
    }

    [Fact]
    public void GivenEmptyClassFolder_WhenOpened_ThenErrorNamesIt()
    {
        TestFiles.WriteImage(Path.Combine(_tmp.Dir("cat"), "a.png"), TestFiles.RandomRgb(4, 4, 1), SKEncodedImageFormat.Png);
        var dog = _tmp.Dir("dog");

        var e = Assert.Throws<InvalidDataException>(() => ImageFolder.Open(_tmp.Path));

        Assert.Contains(dog, e.Message);
    }

    [Fact]
    public void GivenFolderWithoutImages_WhenOpened_ThenErrorListsExtensions()
    {
        File.WriteAllText(_tmp.File("readme.txt"), "x");

        var e = Assert.Throws<InvalidDataException>(() => ImageFolder.Open(_tmp.Path));

        Assert.Contains(".png", e.Message);
        Assert.Contains(_tmp.Path, e.Message);
    }

    [Fact]
    public void GivenMissingFolder_WhenOpened_ThenDirectoryNotFound()
    {
        Assert.Throws<DirectoryNotFoundException>(() => ImageFolder.Open(_tmp.File("nope")));
    }

    [Fact]
    public void GivenManyThreads_WhenReadingConcurrently_ThenResultsMatchSequentialReads()
    {
        for (int i = 0; i < 8; i++)
            TestFiles.WriteImage(Path.Combine(_tmp.Path, $"{i}.png"), TestFiles.RandomRgb(10, 12, i), SKEncodedImageFormat.Png);
        var ds = ImageFolder.Open(_tmp.Path);
        var expected = Enumerable.Range(0, 8).Select(i => ds.ReadImage(i).Pixels).ToArray();

        var results = new byte[64][];
        Parallel.For(0, 64, new ParallelOptions { MaxDegreeOfParallelism = 4 }, k => results[k] = ds.ReadImage(k % 8).Pixels);

        for (int k = 0; k < 64; k++) Assert.Equal(expected[k % 8], results[k]);
    }
}
