namespace CrateMae.Data;

/// <summary>MNIST handwritten digits in the same IDX layout as <see cref="FashionMnist"/> (classes "0".."9").</summary>
public static class Mnist
{
    /// <summary>The 10 class names ("0".."9").</summary>
    public static IReadOnlyList<string> ClassNames { get; } = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

    /// <summary>Opens one split from an MNIST-layout folder (plain or .gz IDX files).</summary>
    /// <exception cref="DirectoryNotFoundException">When the folder does not exist.</exception>
    /// <exception cref="FileNotFoundException">When a file is missing.</exception>
    /// <exception cref="InvalidDataException">When a file is malformed, the counts differ or a label is not in 0..9.</exception>
    public static InMemoryImageDataset Open(string dataDir, DataSplit split = DataSplit.Train) =>
        MnistFormat.Open(dataDir, split, "mnist", ClassNames, NormalizationStats.Mnist);
}
