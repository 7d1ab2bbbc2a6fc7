using CrateMae.Data;
using TorchSharp;

namespace CrateMae.Tests.Data;

public sealed class DataLoaderTests
{
    private static InMemoryImageDataset Synthetic(int n = 53, int size = 10) =>
        new("synthetic", 1, size, size, TestFiles.Bytes(n * size * size, 42),
            Enumerable.Range(0, n).Select(i => (byte)(i % 10)).ToArray(), Mnist.ClassNames, NormalizationStats.Mnist);

    private static TransformPipeline Train(int size = 8, int channels = 1) => TransformPipeline.Train(size, channels, NormalizationStats.Mnist);

    private static List<(int[] Indices, float[] Images, long[] Labels, int Step)> Collect(DataLoader loader, int epoch, int startStep = 0)
    {
        var result = new List<(int[], float[], long[], int)>();
        foreach (var batch in loader.Epoch(epoch, startStep))
        {
            using (batch)
                result.Add((batch.Indices, batch.Images.data<float>().ToArray(), batch.Labels.data<long>().ToArray(), batch.Step));
        }
        return result;
    }

    [Fact]
    public void GivenShuffle_WhenOneEpochIsRead_ThenEveryIndexAppearsExactlyOnce()
    {
        using var loader = new DataLoader(Synthetic(), Train(), new DataLoaderOptions { BatchSize = 8, Seed = 3 });

        var batches = Collect(loader, epoch: 0);

        Assert.Equal(7, loader.StepsPerEpoch);
        Assert.Equal(7, batches.Count);
        Assert.Equal([8, 8, 8, 8, 8, 8, 5], batches.Select(b => b.Indices.Length));
        var all = batches.SelectMany(b => b.Indices).ToArray();
        Assert.Equal(Enumerable.Range(0, 53), all.Order());
        Assert.NotEqual(Enumerable.Range(0, 53), all); // actually shuffled
        Assert.Equal(Enumerable.Range(0, 7), batches.Select(b => b.Step));
    }

    [Fact]
    public void GivenBatch_WhenRead_ThenTensorShapesDtypesAndLabelsMatchTheDataset()
    {
        var ds = Synthetic();
        using var loader = new DataLoader(ds, Train(8, 3), new DataLoaderOptions { BatchSize = 4, Seed = 1 });

        using var batch = loader.Epoch(0).First();

        Assert.Equal([4L, 3, 8, 8], batch.Images.shape);
        Assert.Equal(torch.ScalarType.Float32, batch.Images.dtype);
        Assert.Equal([4L], batch.Labels.shape);
        Assert.Equal(torch.ScalarType.Int64, batch.Labels.dtype);
        Assert.Equal(batch.Indices.Select(i => (long)ds.GetLabel(i)), batch.Labels.data<long>().ToArray());
        Assert.Equal(loader.GetSample(0, batch.Indices[2]).Data, batch.Images[2].data<float>().ToArray());
    }

    [Fact]
    public void GivenDisposedBatches_WhenAnEpochIsRead_ThenNoTensorsStayAlive()
    {
        using var loader = new DataLoader(Synthetic(), Train(), new DataLoaderOptions { BatchSize = 8 });
        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;

        foreach (var batch in loader.Epoch(0))
        {
            using (batch) Assert.Equal(before + 2, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
        }

        Assert.Equal(before, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }

    [Fact]
    public void GivenStepScope_WhenBatchMovedIntoIt_ThenScopeDisposesTheTensors()
    {
        using var loader = new DataLoader(Synthetic(), Train(), new DataLoaderOptions { BatchSize = 8 });
        var batch = loader.Epoch(0).First();

        using (var scope = torch.NewDisposeScope()) batch.MoveToScope(scope);

        Assert.True(batch.Images.IsInvalid);
        batch.Dispose(); // harmless afterwards
    }

    [Fact]
    public void GivenDifferentEpochs_WhenShuffled_ThenOrdersDifferButEachIsAPermutation()
    {
        using var loader = new DataLoader(Synthetic(), Train(), new DataLoaderOptions { BatchSize = 8, Seed = 3 });

        var e0 = loader.GetEpochOrder(0);
        var e1 = loader.GetEpochOrder(1);

        Assert.NotEqual(e0, e1);
        Assert.Equal(Enumerable.Range(0, 53), e1.Order());
        Assert.Equal(e0, loader.GetEpochOrder(0));
    }

    [Fact]
    public void GivenNoShuffleAndDropLast_WhenEpochRead_ThenSequentialFullBatchesOnly()
    {
        using var loader = new DataLoader(Synthetic(), Train(), new DataLoaderOptions { BatchSize = 8, Shuffle = false, DropLast = true });

        var batches = Collect(loader, 0);

        Assert.Equal(6, batches.Count);
        Assert.Equal(Enumerable.Range(0, 48), batches.SelectMany(b => b.Indices));
    }

    [Fact]
    public void GivenResumeAtStep_WhenEpochRead_ThenBatchesEqualTheTailOfAnUninterruptedEpoch()
    {
        var options = new DataLoaderOptions { BatchSize = 8, Seed = 11 };
        using var loader = new DataLoader(Synthetic(), Train(), options);

        var full = Collect(loader, epoch: 2);
        var resumed = Collect(loader, epoch: 2, startStep: 4);

        Assert.Equal(3, resumed.Count);
        for (int k = 0; k < 3; k++)
        {
            Assert.Equal(full[4 + k].Step, resumed[k].Step);
            Assert.Equal(full[4 + k].Indices, resumed[k].Indices);
            Assert.Equal(full[4 + k].Images, resumed[k].Images);
            Assert.Equal(full[4 + k].Labels, resumed[k].Labels);
        }
        Assert.Empty(Collect(loader, epoch: 2, startStep: loader.StepsPerEpoch));
    }

    [Fact]
    public void GivenTwoLoadersWithSameSeed_WhenRead_ThenIdenticalBatchesEvenWithDifferentWorkerCounts()
    {
        using var a = new DataLoader(Synthetic(), Train(), new DataLoaderOptions { BatchSize = 8, Seed = 5, Workers = 1 });
        using var b = new DataLoader(Synthetic(), Train(), new DataLoaderOptions { BatchSize = 8, Seed = 5, Workers = 3, PrefetchBatches = 4 });
        using var c = new DataLoader(Synthetic(), Train(), new DataLoaderOptions { BatchSize = 8, Seed = 6 });

        var ba = Collect(a, 1);
        var bb = Collect(b, 1);
        var bc = Collect(c, 1);

        Assert.Equal(ba.Count, bb.Count);
        for (int k = 0; k < ba.Count; k++)
        {
            Assert.Equal(ba[k].Indices, bb[k].Indices);
            Assert.Equal(ba[k].Images, bb[k].Images);
        }
        Assert.NotEqual(ba[0].Indices, bc[0].Indices);
    }

    [Fact]
    public void GivenLimit_WhenEpochRead_ThenOnlyTheFirstIndicesAreUsed()
    {
        using var loader = new DataLoader(Synthetic(), Train(), new DataLoaderOptions { BatchSize = 4, Limit = 10 });

        var all = Collect(loader, 0).SelectMany(b => b.Indices).ToArray();

        Assert.Equal(10, loader.Count);
        Assert.Equal(3, loader.StepsPerEpoch);
        Assert.Equal(Enumerable.Range(0, 10), all.Order());
    }

    [Fact]
    public void GivenEarlyBreak_WhenEnumeratedAgain_ThenWorkersWereStoppedAndNewEpochWorks()
    {
        using var loader = new DataLoader(Synthetic(), Train(), new DataLoaderOptions { BatchSize = 2, PrefetchBatches = 2 });

        foreach (var batch in loader.Epoch(0))
        {
            batch.Dispose();
            break;
        }

        Assert.Equal(loader.StepsPerEpoch, Collect(loader, 0).Count);
    }

    [Fact]
    public void GivenCancelledToken_WhenEnumerating_ThenOperationCanceled()
    {
        using var loader = new DataLoader(new SlowDataset(Synthetic()), Train(), new DataLoaderOptions { BatchSize = 2 });
        using var cts = new CancellationTokenSource();

        Assert.ThrowsAny<OperationCanceledException>(() =>
        {
            foreach (var batch in loader.Epoch(0, cancellationToken: cts.Token))
            {
                batch.Dispose();
                cts.Cancel();
            }
        });
    }

    [Fact]
    public void GivenLoaderDisposedWhileEnumerating_WhenNextBatchRequested_ThenOperationCanceled()
    {
        var loader = new DataLoader(new SlowDataset(Synthetic()), Train(), new DataLoaderOptions { BatchSize = 2 });

        Assert.ThrowsAny<OperationCanceledException>(() =>
        {
            foreach (var batch in loader.Epoch(0))
            {
                batch.Dispose();
                loader.Dispose();
            }
        });
        Assert.Throws<ObjectDisposedException>(() => loader.Epoch(1));
    }

    [Fact]
    public void GivenUnreadableSample_WhenEnumerating_ThenTheReadersErrorReachesTheConsumer()
    {
        using var loader = new DataLoader(new FaultyDataset(Synthetic(), badIndex: 17), Train(),
                                          new DataLoaderOptions { BatchSize = 4, Shuffle = false, Workers = 2 });

        var seen = new List<int>();
        var e = Assert.Throws<InvalidDataException>(() =>
        {
            foreach (var batch in loader.Epoch(0))
            {
                using (batch) seen.Add(batch.Step);
            }
        });

        Assert.Contains("bad-17.png", e.Message);
        Assert.Equal([0, 1, 2, 3], seen); // index 17 is in step 4
    }

    [Fact]
    public void GivenInvalidOptions_WhenConstructed_ThenErrorNamesTheOption()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new DataLoader(Synthetic(), Train(), new DataLoaderOptions { BatchSize = 0 }));
        Assert.Contains("BatchSize", e.Message);
        using var loader = new DataLoader(Synthetic(), Train());
        Assert.Throws<ArgumentOutOfRangeException>(() => loader.Epoch(0, startStep: loader.StepsPerEpoch + 1));
    }

    [Fact]
    public void GivenRealFashionMnist_WhenLoaded_ThenBatchStatisticsAreRoughlyStandardized()
    {
        var ds = FashionMnist.Open(split: DataSplit.Test);
        using var loader = new DataLoader(ds, TransformPipeline.Eval(28, 1, ds.DefaultNormalization),
                                          new DataLoaderOptions { BatchSize = 500, Limit = 2000, Seed = 1 });

        var values = Collect(loader, 0).SelectMany(b => b.Images).ToArray();
        double mean = values.Average(v => (double)v);
        double std = Math.Sqrt(values.Average(v => (v - mean) * (v - mean)));

        Assert.InRange(mean, -0.1, 0.1);
        Assert.InRange(std, 0.9, 1.1);
    }

    /// <summary>Delays every read so that cancellation happens while workers are busy.</summary>
    private sealed class SlowDataset(IImageDataset inner) : IImageDataset
    {
        public string Name => inner.Name;
        public int Count => inner.Count;
        public int Channels => inner.Channels;
        public int? NativeSize => inner.NativeSize;
        public int NumClasses => inner.NumClasses;
        public IReadOnlyList<string> ClassNames => inner.ClassNames;
        public NormalizationStats DefaultNormalization => inner.DefaultNormalization;
        public int GetLabel(int index) => inner.GetLabel(index);
        public (int Height, int Width) GetImageSize(int index) => inner.GetImageSize(index);

        public ImageData ReadImage(int index)
        {
            Thread.Sleep(5);
            return inner.ReadImage(index);
        }
    }

    /// <summary>Fails to decode one index, like a corrupt file would.</summary>
    private sealed class FaultyDataset(IImageDataset inner, int badIndex) : IImageDataset
    {
        public string Name => inner.Name;
        public int Count => inner.Count;
        public int Channels => inner.Channels;
        public int? NativeSize => inner.NativeSize;
        public int NumClasses => inner.NumClasses;
        public IReadOnlyList<string> ClassNames => inner.ClassNames;
        public NormalizationStats DefaultNormalization => inner.DefaultNormalization;
        public int GetLabel(int index) => inner.GetLabel(index);
        public (int Height, int Width) GetImageSize(int index) => inner.GetImageSize(index);

        public ImageData ReadImage(int index) =>
            index == badIndex ? throw new InvalidDataException($"Image file '/data/bad-{index}.png' is corrupt.") : inner.ReadImage(index);
    }
}
