using CrateMae.Data;

namespace CrateMae.Tests.Data;

public sealed class MnistFormatTests : IDisposable
{
    private readonly TempDirectory _tmp = new();

    public void Dispose() => _tmp.Dispose();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void GivenMnistLayoutFolder_WhenOpened_ThenImagesAndLabelsMatchTheFiles(bool gzip)
    {
        var (pixels, labels) = TestFiles.WriteMnistLayout(_tmp.Path, 12, 5, 6, gzip);

        var ds = FashionMnist.Open(_tmp.Path, DataSplit.Test);

        Assert.Equal("fashion-mnist:test", ds.Name);
        Assert.Equal(12, ds.Count);
        Assert.Equal(1, ds.Channels);
        Assert.Null(ds.NativeSize); // 5x6 is not square
        Assert.Equal((5, 6), ds.GetImageSize(3));
        Assert.Equal(10, ds.NumClasses);
        Assert.Equal("Ankle boot", ds.ClassNames[9]);
        Assert.Equal(labels[7], ds.GetLabel(7));
        var img = ds.ReadImage(7);
        Assert.Equal(pixels.AsSpan(7 * 30, 30).ToArray(), img.Pixels);
        Assert.Equal(NormalizationStats.FashionMnist, ds.DefaultNormalization);
    }

    [Fact]
    public void GivenMissingLabelFile_WhenOpened_ThenErrorNamesBothCandidates()
    {
        TestFiles.WriteMnistLayout(_tmp.Path, 3, 2, 2, gzip: false);
        File.Delete(_tmp.File("train-labels-idx1-ubyte"));

        var e = Assert.Throws<FileNotFoundException>(() => Mnist.Open(_tmp.Path, DataSplit.Train));

        Assert.Contains(_tmp.File("train-labels-idx1-ubyte"), e.Message);
        Assert.Contains(_tmp.File("train-labels-idx1-ubyte.gz"), e.Message);
    }

    [Fact]
    public void GivenLabelImageCountMismatch_WhenOpened_ThenErrorNamesBothFiles()
    {
        TestFiles.WriteMnistLayout(_tmp.Path, 4, 2, 2, gzip: false);
        IdxFile.Write(_tmp.File("train-labels-idx1-ubyte"), IdxDataType.UInt8, [3], [0, 1, 2]);

        var e = Assert.Throws<InvalidDataException>(() => Mnist.Open(_tmp.Path));

        Assert.Contains("4 images", e.Message);
        Assert.Contains("3 labels", e.Message);
        Assert.Contains(_tmp.File("train-labels-idx1-ubyte"), e.Message);
    }

    [Fact]
    public void GivenLabelOutOfRange_WhenOpened_ThenErrorNamesFileAndIndex()
    {
        TestFiles.WriteMnistLayout(_tmp.Path, 3, 2, 2, gzip: false);
        IdxFile.Write(_tmp.File("train-labels-idx1-ubyte"), IdxDataType.UInt8, [3], [0, 10, 2]);

        var e = Assert.Throws<InvalidDataException>(() => Mnist.Open(_tmp.Path));

        Assert.Contains("label 10 at index 1", e.Message);
        Assert.Contains(_tmp.File("train-labels-idx1-ubyte"), e.Message);
    }

    [Fact]
    public void GivenMissingFolder_WhenOpened_ThenDirectoryNotFound()
    {
        var e = Assert.Throws<DirectoryNotFoundException>(() => FashionMnist.Open(_tmp.File("absent")));

        Assert.Contains(_tmp.File("absent"), e.Message);
    }
}
