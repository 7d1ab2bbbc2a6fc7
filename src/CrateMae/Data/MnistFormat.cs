namespace CrateMae.Data;

/// <summary>
/// Opens a folder in the MNIST layout: <c>train-images-idx3-ubyte</c>, <c>train-labels-idx1-ubyte</c>,
/// <c>t10k-images-idx3-ubyte</c>, <c>t10k-labels-idx1-ubyte</c>, each either plain or with a <c>.gz</c> suffix
/// (a plain file is preferred when both exist). Used by <see cref="FashionMnist"/> and <see cref="Mnist"/>.
/// </summary>
public static class MnistFormat
{
    /// <summary>Finds the file for <paramref name="baseName"/> (plain or .gz) in <paramref name="directory"/>.</summary>
    /// <exception cref="FileNotFoundException">When neither exists; the message names both candidates.</exception>
    public static string ResolveFile(string directory, string baseName)
    {
        var plain = Path.Combine(directory, baseName);
        if (File.Exists(plain)) return plain;
        var gz = plain + ".gz";
        if (File.Exists(gz)) return gz;
        throw new FileNotFoundException(
            $"MNIST-layout folder '{directory}': neither '{plain}' nor '{gz}' exists " +
            "(expected train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, plain or .gz).",
            gz);
    }

    /// <summary>
    /// Reads the images (IDX ubyte, 3 dimensions N×H×W) and labels (IDX ubyte, 1 dimension N) of <paramref name="split"/>
    /// into an <see cref="InMemoryImageDataset"/> with 1 channel.
    /// </summary>
    /// <param name="directory">The folder.</param>
    /// <param name="split">Train (<c>train-*</c>) or test (<c>t10k-*</c>).</param>
    /// <param name="name">Dataset name prefix, e.g. <c>fashion-mnist</c>; the split is appended.</param>
    /// <param name="classNames">Class names; every label must be below their count.</param>
    /// <param name="normalization">Default normalization (1 channel).</param>
    /// <exception cref="DirectoryNotFoundException">When the folder does not exist.</exception>
    /// <exception cref="FileNotFoundException">When a file is missing.</exception>
    /// <exception cref="InvalidDataException">When a file is malformed, the counts differ or a label is out of range.</exception>
    public static InMemoryImageDataset Open(string directory, DataSplit split, string name, IReadOnlyList<string> classNames,
                                            NormalizationStats normalization)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ArgumentNullException.ThrowIfNull(classNames);
        if (!Directory.Exists(directory))
            throw new DirectoryNotFoundException($"{name}: data folder '{directory}' does not exist.");
        string prefix = split == DataSplit.Train ? "train" : "t10k";
        var imagesPath = ResolveFile(directory, $"{prefix}-images-idx3-ubyte");
        var labelsPath = ResolveFile(directory, $"{prefix}-labels-idx1-ubyte");

        var labels = IdxFile.Read(labelsPath, IdxDataType.UInt8, 1);
        var images = IdxFile.Read(imagesPath, IdxDataType.UInt8, 3);
        int n = images.Dimensions[0], h = images.Dimensions[1], w = images.Dimensions[2];
        if (h == 0 || w == 0)
            throw new InvalidDataException($"IDX file '{imagesPath}': image size {h}x{w} must be positive.");
        if (labels.Dimensions[0] != n)
            throw new InvalidDataException(
                $"{name}: '{imagesPath}' holds {n} images but '{labelsPath}' holds {labels.Dimensions[0]} labels; the counts must match.");
        var lab = labels.Data;
        for (int i = 0; i < lab.Length; i++)
        {
            if (lab[i] >= classNames.Count)
                throw new InvalidDataException(
                    $"IDX file '{labelsPath}': label {lab[i]} at index {i} is out of range; expected 0..{classNames.Count - 1}.");
        }
        string splitName = split == DataSplit.Train ? "train" : "test";
        return new InMemoryImageDataset($"{name}:{splitName}", 1, h, w, images.Data, lab, classNames, normalization);
    }
}
