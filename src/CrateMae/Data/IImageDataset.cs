namespace CrateMae.Data;

/// <summary>
/// A random-access image dataset. All members are safe to call concurrently from several threads
/// (the <see cref="DataLoader"/> decodes on background workers).
/// </summary>
public interface IImageDataset
{
    /// <summary>A short name for logs, e.g. <c>fashion-mnist:train</c> or <c>folder:/data/imagenet/train</c>.</summary>
    string Name { get; }

    /// <summary>Number of images.</summary>
    int Count { get; }

    /// <summary>Native channel count of the decoded images: 1 (gray) or 3 (RGB).</summary>
    int Channels { get; }

    /// <summary>Side length when every image is square with the same size (28 for Fashion-MNIST, 32 for CIFAR); otherwise null.</summary>
    int? NativeSize { get; }

    /// <summary>Number of classes; 0 for an unlabeled dataset.</summary>
    int NumClasses { get; }

    /// <summary>Class names indexed by label (empty when unlabeled).</summary>
    IReadOnlyList<string> ClassNames { get; }

    /// <summary>
    /// The normalization statistics usually used with this dataset, for its native <see cref="Channels"/>
    /// (adapt with <see cref="NormalizationStats.ForChannels"/>).
    /// </summary>
    NormalizationStats DefaultNormalization { get; }

    /// <summary>The class label of image <paramref name="index"/> in [0, NumClasses), or −1 when the dataset is unlabeled.</summary>
    /// <exception cref="ArgumentOutOfRangeException">When <paramref name="index"/> is outside [0, Count).</exception>
    int GetLabel(int index);

    /// <summary>The (height, width) of image <paramref name="index"/>; may read the file header for lazily decoded datasets.</summary>
    /// <exception cref="ArgumentOutOfRangeException">When <paramref name="index"/> is outside [0, Count).</exception>
    (int Height, int Width) GetImageSize(int index);

    /// <summary>
    /// Decodes image <paramref name="index"/> into a new <see cref="ImageData"/> (8-bit, planar CHW, <see cref="Channels"/> channels).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">When <paramref name="index"/> is outside [0, Count).</exception>
    /// <exception cref="InvalidDataException">When the image cannot be decoded (the message names the file).</exception>
    ImageData ReadImage(int index);
}
