namespace CrateMae.Data;

/// <summary>
/// A dataset of equally sized 8-bit images held in one contiguous byte array (image-major, each image planar CHW),
/// with optional labels. Fashion-MNIST, MNIST and CIFAR load into this type; tests can build synthetic ones.
/// Immutable after construction and therefore thread-safe.
/// </summary>
public sealed class InMemoryImageDataset : IImageDataset
{
    private readonly byte[] _pixels;
    private readonly byte[]? _labels;
    private readonly int _imageBytes;

    /// <summary>Creates a dataset over <paramref name="pixels"/> (not copied).</summary>
    /// <param name="name">Name for logs.</param>
    /// <param name="channels">1 or 3.</param>
    /// <param name="height">Image height.</param>
    /// <param name="width">Image width.</param>
    /// <param name="pixels">count * channels * height * width bytes; image i, channel c, row y, column x at ((i*C + c)*H + y)*W + x.</param>
    /// <param name="labels">One label per image (each &lt; classNames.Count), or null for an unlabeled dataset.</param>
    /// <param name="classNames">Class names (must be empty when <paramref name="labels"/> is null).</param>
    /// <param name="normalization">Default normalization statistics (channel count must equal <paramref name="channels"/>).</param>
    /// <exception cref="ArgumentException">When the sizes, labels or names are inconsistent.</exception>
    public InMemoryImageDataset(string name, int channels, int height, int width, byte[] pixels, byte[]? labels,
                                IReadOnlyList<string> classNames, NormalizationStats normalization)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(pixels);
        ArgumentNullException.ThrowIfNull(classNames);
        ArgumentNullException.ThrowIfNull(normalization);
        if (channels is not (1 or 3))
            throw new ArgumentException($"{name}: channels must be 1 or 3, got {channels}.", nameof(channels));
        if (height <= 0 || width <= 0)
            throw new ArgumentException($"{name}: image size must be positive, got {height}x{width}.");
        long imageBytes = (long)channels * height * width;
        if (imageBytes > int.MaxValue / 2)
            throw new ArgumentException($"{name}: image size {channels}x{height}x{width} is too large.");
        if (pixels.LongLength % imageBytes != 0)
            throw new ArgumentException(
                $"{name}: pixel buffer of {pixels.LongLength} bytes is not a whole number of {channels}x{height}x{width} images ({imageBytes} bytes each).",
                nameof(pixels));
        long count = pixels.LongLength / imageBytes;
        if (labels is not null)
        {
            if (labels.LongLength != count)
                throw new ArgumentException($"{name}: {labels.LongLength} labels for {count} images.", nameof(labels));
            if (classNames.Count == 0)
                throw new ArgumentException($"{name}: labels given but no class names.", nameof(classNames));
            for (int i = 0; i < labels.Length; i++)
            {
                if (labels[i] >= classNames.Count)
                    throw new ArgumentException($"{name}: label {labels[i]} of image {i} is not below the class count {classNames.Count}.", nameof(labels));
            }
        }
        else if (classNames.Count != 0)
        {
            throw new ArgumentException($"{name}: class names given for an unlabeled dataset.", nameof(classNames));
        }
        normalization.Validate();
        if (normalization.Channels != channels)
            throw new ArgumentException($"{name}: normalization has {normalization.Channels} channels, images have {channels}.", nameof(normalization));

        Name = name;
        Channels = channels;
        Height = height;
        Width = width;
        Count = (int)count;
        _pixels = pixels;
        _labels = labels;
        _imageBytes = (int)imageBytes;
        ClassNames = classNames.ToArray();
        DefaultNormalization = normalization;
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <inheritdoc />
    public int Count { get; }

    /// <inheritdoc />
    public int Channels { get; }

    /// <summary>Height of every image.</summary>
    public int Height { get; }

    /// <summary>Width of every image.</summary>
    public int Width { get; }

    /// <inheritdoc />
    public int? NativeSize => Height == Width ? Height : null;

    /// <inheritdoc />
    public int NumClasses => _labels is null ? 0 : ClassNames.Count;

    /// <inheritdoc />
    public IReadOnlyList<string> ClassNames { get; }

    /// <inheritdoc />
    public NormalizationStats DefaultNormalization { get; }

    /// <inheritdoc />
    public int GetLabel(int index)
    {
        CheckIndex(index);
        return _labels is null ? -1 : _labels[index];
    }

    /// <inheritdoc />
    public (int Height, int Width) GetImageSize(int index)
    {
        CheckIndex(index);
        return (Height, Width);
    }

    /// <inheritdoc />
    public ImageData ReadImage(int index)
    {
        CheckIndex(index);
        var bytes = new byte[_imageBytes];
        Buffer.BlockCopy(_pixels, checked(index * _imageBytes), bytes, 0, _imageBytes);
        return new ImageData(Channels, Height, Width, bytes);
    }

    /// <summary>The raw bytes of image <paramref name="index"/> without copying (planar CHW). Do not modify.</summary>
    public ReadOnlySpan<byte> GetPixels(int index)
    {
        CheckIndex(index);
        return _pixels.AsSpan(index * _imageBytes, _imageBytes);
    }

    /// <inheritdoc />
    public override string ToString() => $"{Name}: {Count} images {Channels}x{Height}x{Width}, {NumClasses} classes";

    private void CheckIndex(int index)
    {
        if ((uint)index >= (uint)Count)
            throw new ArgumentOutOfRangeException(nameof(index), index, $"{Name}: index must be in [0, {Count}).");
    }
}
