using CrateMae.Data;

namespace CrateMae.Tests.Data;

/// <summary>Uses the real Fashion-MNIST installed by Debian's dataset-fashion-mnist package (present in CI).</summary>
public sealed class FashionMnistTests
{
    [Fact]
    public void GivenInstalledDataset_WhenTestSplitOpened_ThenTenThousandImagesWithLabelsZeroToNine()
    {
        var ds = FashionMnist.Open(FashionMnist.DefaultDirectory, DataSplit.Test);

        Assert.Equal(10_000, ds.Count);
        Assert.Equal(28, ds.NativeSize);
        Assert.Equal(1, ds.Channels);
        Assert.Equal(10, ds.NumClasses);
        var perClass = new int[10];
        for (int i = 0; i < ds.Count; i++)
        {
            int label = ds.GetLabel(i);
            Assert.InRange(label, 0, 9);
            perClass[label]++;
        }
        Assert.All(perClass, c => Assert.Equal(1000, c));
        var img = ds.ReadImage(0);
        Assert.Equal((1, 28, 28), (img.Channels, img.Height, img.Width));
        Assert.Contains(img.Pixels, b => b > 0);
    }

    [Fact]
    public void GivenInstalledTrainSplit_WhenPixelStatisticsComputed_ThenTheyMatchTheDefaultNormalization()
    {
        var ds = FashionMnist.Open(split: DataSplit.Train);
        Assert.Equal(60_000, ds.Count);

        double sum = 0, sumSq = 0;
        long n = 0;
        for (int i = 0; i < ds.Count; i++)
        {
            foreach (var b in ds.GetPixels(i))
            {
                double v = b / 255.0;
                sum += v;
                sumSq += v * v;
            }
            n += 784;
        }
        double mean = sum / n;
        double std = Math.Sqrt((sumSq / n) - (mean * mean));

        Assert.Equal(NormalizationStats.FashionMnist.Mean[0], mean, 0.0005);
        Assert.Equal(NormalizationStats.FashionMnist.Std[0], std, 0.0005);
    }
}
