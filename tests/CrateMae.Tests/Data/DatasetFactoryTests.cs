using CrateMae.Data;
using SkiaSharp;

namespace CrateMae.Tests.Data;

public sealed class DatasetFactoryTests : IDisposable
{
    private readonly TempDirectory _tmp = new();

    public void Dispose() => _tmp.Dispose();

    [Theory]
    [InlineData("fashion-mnist", "fashion-mnist", null, null)]
    [InlineData("FMNIST:test", "fashion-mnist", null, DataSplit.Test)]
    [InlineData("fashion-mnist:/data/fm", "fashion-mnist", "/data/fm", null)]
    [InlineData("fashion-mnist:/data/fm:train", "fashion-mnist", "/data/fm", DataSplit.Train)]
    [InlineData("cifar10:/p/cifar-10-batches-bin", "cifar10", "/p/cifar-10-batches-bin", null)]
    [InlineData("cifar-100:/p:val", "cifar100", "/p", DataSplit.Test)]
    [InlineData("folder:/images/x", "folder", "/images/x", null)]
    [InlineData("mnist:train", "mnist", null, DataSplit.Train)]
    public void GivenSpec_WhenParsed_ThenKindPathAndSplit(string spec, string kind, string? path, DataSplit? split)
    {
        Assert.Equal((kind, path, split), DatasetFactory.Parse(spec));
    }

    [Theory]
    [InlineData("imagenet:/x")]
    [InlineData("")]
    [InlineData("svhn")]
    public void GivenUnknownSpec_WhenOpened_ThenErrorListsAcceptedForms(string spec)
    {
        var e = Assert.Throws<ArgumentException>(() => DatasetFactory.Open(spec));

        Assert.Contains("fashion-mnist:test", e.Message);
        Assert.Contains("cifar10:", e.Message);
        Assert.Contains("folder:", e.Message);
    }

    [Fact]
    public void GivenCifarSpecWithoutPath_WhenOpened_ThenErrorAsksForPath()
    {
        var e = Assert.Throws<ArgumentException>(() => DatasetFactory.Open("cifar10"));

        Assert.Contains("needs a path", e.Message);
    }

    [Fact]
    public void GivenFashionMnistTestSpec_WhenOpened_ThenInstalledTestSplit()
    {
        var ds = DatasetFactory.Open("fashion-mnist:test");

        Assert.Equal("fashion-mnist:test", ds.Name);
        Assert.Equal(10_000, ds.Count);
    }

    [Fact]
    public void GivenSplitArgument_WhenSpecHasNoSplit_ThenArgumentIsUsed()
    {
        TestFiles.WriteMnistLayout(_tmp.Path, 3, 2, 2, gzip: true);

        var ds = DatasetFactory.Open($"mnist:{_tmp.Path}", DataSplit.Test);

        Assert.Equal("mnist:test", ds.Name);
    }

    [Fact]
    public void GivenFolderWithTrainAndValSubfolders_WhenOpenedPerSplit_ThenEachSplitUsesItsFolder()
    {
        foreach (var (split, n) in new[] { ("train", 3), ("val", 1) })
            for (int i = 0; i < n; i++)
                TestFiles.WriteImage(Path.Combine(_tmp.Dir(split, "cls"), $"{i}.png"), TestFiles.RandomRgb(4, 4, i), SKEncodedImageFormat.Png);

        var train = DatasetFactory.Open($"folder:{_tmp.Path}", DataSplit.Train);
        var val = DatasetFactory.Open($"folder:{_tmp.Path}:test");

        Assert.Equal(3, train.Count);
        Assert.Equal(1, val.Count);
        Assert.Equal(["cls"], val.ClassNames);
    }
}
