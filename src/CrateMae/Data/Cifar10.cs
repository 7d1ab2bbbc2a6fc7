namespace CrateMae.Data;

/// <summary>
/// CIFAR-10, binary version: <c>cifar-10-batches-bin/data_batch_1..5.bin</c> (train), <c>test_batch.bin</c> (test),
/// <c>batches.meta.txt</c> (class names). Each record is 1 label byte followed by 3072 bytes of 32×32 RGB pixels in CHW order.
/// </summary>
public static class Cifar10
{
    /// <summary>The standard class names, used when <c>batches.meta.txt</c> is absent.</summary>
    public static IReadOnlyList<string> DefaultClassNames { get; } =
        ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

    /// <summary>Opens one split.</summary>
    /// <param name="directory">The <c>cifar-10-batches-bin</c> folder, or a folder that contains it.</param>
    /// <param name="split">Train (data_batch_1..5) or test (test_batch).</param>
    /// <exception cref="DirectoryNotFoundException">When the folder does not exist.</exception>
    /// <exception cref="FileNotFoundException">When a batch file is missing.</exception>
    /// <exception cref="InvalidDataException">
    /// When a batch's length is not a multiple of 3073 bytes, a label is not in 0..9, or batches.meta.txt does not hold 10 names.
    /// </exception>
    public static InMemoryImageDataset Open(string directory, DataSplit split = DataSplit.Train)
    {
        const string name = "cifar10";
        string probe = split == DataSplit.Train ? "data_batch_1.bin" : "test_batch.bin";
        var dir = CifarBinary.ResolveDirectory(directory, "cifar-10-batches-bin", probe, name,
            "cifar-10-batches-bin/ with data_batch_1..5.bin, test_batch.bin and batches.meta.txt");
        string[] files = split == DataSplit.Train
            ? Enumerable.Range(1, 5).Select(i => Path.Combine(dir, $"data_batch_{i}.bin")).ToArray()
            : [Path.Combine(dir, "test_batch.bin")];
        var names = CifarBinary.ReadNames(Path.Combine(dir, "batches.meta.txt"), DefaultClassNames, name);
        var (pixels, labels) = CifarBinary.Read(files, labelBytes: 1, labelIndex: 0, numClasses: names.Count, name);
        string splitName = split == DataSplit.Train ? "train" : "test";
        return new InMemoryImageDataset($"{name}:{splitName}", 3, 32, 32, pixels, labels, names, NormalizationStats.Cifar10);
    }
}
