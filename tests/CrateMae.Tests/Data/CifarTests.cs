using CrateMae.Data;

namespace CrateMae.Tests.Data;

public sealed class CifarTests : IDisposable
{
    private readonly TempDirectory _tmp = new();

    public void Dispose() => _tmp.Dispose();

    private string WriteCifar10(int perBatch, bool withMeta = true)
    {
        var dir = _tmp.Dir("cifar-10-batches-bin");
        for (int b = 1; b <= 5; b++)
        {
            var labels = Enumerable.Range(0, perBatch).Select(i => new[] { (byte)((b + i) % 10) }).ToArray();
            TestFiles.WriteCifarBatch(Path.Combine(dir, $"data_batch_{b}.bin"), labels, TestFiles.Bytes(perBatch * 3072, b));
        }
        TestFiles.WriteCifarBatch(Path.Combine(dir, "test_batch.bin"),
            Enumerable.Range(0, perBatch).Select(i => new[] { (byte)(9 - (i % 10)) }).ToArray(), TestFiles.Bytes(perBatch * 3072, 99));
        if (withMeta)
            File.WriteAllLines(Path.Combine(dir, "batches.meta.txt"), ["c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9", "", ""]);
        return dir;
    }

    [Fact]
    public void GivenCifar10Batches_WhenTrainOpened_ThenAllRecordsInOrderWithMetaNames()
    {
        var dir = WriteCifar10(perBatch: 3);

        var ds = Cifar10.Open(dir, DataSplit.Train);

        Assert.Equal("cifar10:train", ds.Name);
        Assert.Equal(15, ds.Count);
        Assert.Equal(3, ds.Channels);
        Assert.Equal(32, ds.NativeSize);
        Assert.Equal(["c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9"], ds.ClassNames);
        // Record 1 of data_batch_2 is dataset index 4: label (2 + 1) % 10, pixels = CHW bytes of that record.
        Assert.Equal(3, ds.GetLabel(4));
        var img = ds.ReadImage(4);
        Assert.Equal(TestFiles.Bytes(3 * 3072, 2).AsSpan(3072, 3072).ToArray(), img.Pixels);
        Assert.Equal(NormalizationStats.Cifar10, ds.DefaultNormalization);
    }

    [Fact]
    public void GivenParentFolderWithoutMeta_WhenTestOpened_ThenFindsSubfolderAndUsesDefaultNames()
    {
        WriteCifar10(perBatch: 2, withMeta: false);

        var ds = Cifar10.Open(_tmp.Path, DataSplit.Test);

        Assert.Equal(2, ds.Count);
        Assert.Equal(9, ds.GetLabel(0));
        Assert.Equal("truck", ds.ClassNames[9]);
    }

    [Fact]
    public void GivenTruncatedBatch_WhenOpened_ThenErrorNamesFileAndRecordSize()
    {
        var dir = WriteCifar10(perBatch: 2);
        var path = Path.Combine(dir, "data_batch_3.bin");
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^100]);

        var e = Assert.Throws<InvalidDataException>(() => Cifar10.Open(dir));

        Assert.Contains(path, e.Message);
        Assert.Contains("3073", e.Message);
    }

    [Fact]
    public void GivenMissingBatch_WhenOpened_ThenFileNotFoundNamesIt()
    {
        var dir = WriteCifar10(perBatch: 1);
        File.Delete(Path.Combine(dir, "data_batch_5.bin"));

        var e = Assert.Throws<FileNotFoundException>(() => Cifar10.Open(dir));

        Assert.Contains(Path.Combine(dir, "data_batch_5.bin"), e.Message);
    }

    [Fact]
    public void GivenLabelOutOfRange_WhenOpened_ThenErrorNamesFileAndRecord()
    {
        var dir = WriteCifar10(perBatch: 2);
        TestFiles.WriteCifarBatch(Path.Combine(dir, "test_batch.bin"), [[1], [12]], TestFiles.Bytes(2 * 3072, 1));

        var e = Assert.Throws<InvalidDataException>(() => Cifar10.Open(dir, DataSplit.Test));

        Assert.Contains("record 1 has label 12", e.Message);
        Assert.Contains("test_batch.bin", e.Message);
    }

    [Fact]
    public void GivenMetaWithWrongNameCount_WhenOpened_ThenErrorNamesMetaFile()
    {
        var dir = WriteCifar10(perBatch: 1);
        File.WriteAllLines(Path.Combine(dir, "batches.meta.txt"), ["a", "b"]);

        var e = Assert.Throws<InvalidDataException>(() => Cifar10.Open(dir));

        Assert.Contains("batches.meta.txt", e.Message);
        Assert.Contains("expected 10", e.Message);
    }

    [Fact]
    public void GivenCifar100Files_WhenOpened_ThenFineLabelsAndNamesAreUsed()
    {
        var dir = _tmp.Dir("cifar-100-binary");
        TestFiles.WriteCifarBatch(Path.Combine(dir, "train.bin"), [[3, 77], [19, 5], [0, 99]], TestFiles.Bytes(3 * 3072, 4));
        File.WriteAllLines(Path.Combine(dir, "fine_label_names.txt"), Enumerable.Range(0, 100).Select(i => $"fine{i}"));

        var ds = Cifar100.Open(_tmp.Path, DataSplit.Train);

        Assert.Equal("cifar100:train", ds.Name);
        Assert.Equal(3, ds.Count);
        Assert.Equal([77, 5, 99], Enumerable.Range(0, 3).Select(ds.GetLabel));
        Assert.Equal(100, ds.NumClasses);
        Assert.Equal("fine77", ds.ClassNames[77]);
        Assert.Equal(TestFiles.Bytes(3 * 3072, 4).AsSpan(2 * 3072, 3072).ToArray(), ds.ReadImage(2).Pixels);
    }

    [Fact]
    public void GivenTruncatedCifar100File_WhenOpened_ThenErrorNamesFileAndRecordSize()
    {
        var dir = _tmp.Dir("cifar-100-binary");
        var path = Path.Combine(dir, "test.bin");
        TestFiles.WriteCifarBatch(path, [[3, 77], [19, 5]], TestFiles.Bytes(2 * 3072, 4));
        File.WriteAllBytes(path, File.ReadAllBytes(path)[..^1]);

        var e = Assert.Throws<InvalidDataException>(() => Cifar100.Open(dir, DataSplit.Test));

        Assert.Contains(path, e.Message);
        Assert.Contains("3074", e.Message);
    }

    [Fact]
    public void GivenDefaultNameLists_ThenTheyHaveTheStandardSizes()
    {
        Assert.Equal(10, Cifar10.DefaultClassNames.Count);
        Assert.Equal(100, Cifar100.DefaultClassNames.Distinct().Count());
    }
}
