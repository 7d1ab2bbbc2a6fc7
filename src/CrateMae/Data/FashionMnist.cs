namespace CrateMae.Data;

/// <summary>Fashion-MNIST (Zalando): 28×28 gray, 60,000 train / 10,000 test images, 10 classes.</summary>
public static class FashionMnist
{
    /// <summary>Where Debian's <c>dataset-fashion-mnist</c> package installs the gzipped IDX files.</summary>
    public const string DefaultDirectory = "/usr/share/datasets/fashion-mnist";

    /// <summary>The 10 class names, indexed by label.</summary>
    public static IReadOnlyList<string> ClassNames { get; } =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    /// <summary>Opens one split from an MNIST-layout folder (plain or .gz IDX files).</summary>
    /// <param name="dataDir">The folder; defaults to <see cref="DefaultDirectory"/>.</param>
    /// <param name="split">Train or test.</param>
    /// <exception cref="DirectoryNotFoundException">When the folder does not exist.</exception>
    /// <exception cref="FileNotFoundException">When a file is missing.</exception>
    /// <exception cref="InvalidDataException">When a file is malformed, the counts differ or a label is not in 0..9.</exception>
    public static InMemoryImageDataset Open(string dataDir = DefaultDirectory, DataSplit split = DataSplit.Train) =>
        MnistFormat.Open(dataDir, split, "fashion-mnist", ClassNames, NormalizationStats.FashionMnist);
}
