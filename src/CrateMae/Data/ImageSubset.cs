namespace CrateMae.Data;

/// <summary>
/// Some images of another dataset, by index: image i here is image <c>indices[i]</c> of the parent, with the parent's
/// label, class names and normalisation. Carves a held-out part out of a split (fine-tuning's validation images)
/// without copying pixels. Immutable, so as thread-safe as the parent.
/// </summary>
public sealed class ImageSubset : IImageDataset
{
    private readonly IImageDataset _parent;
    private readonly int[] _indices;

    /// <summary>Creates the subset (the indices are copied).</summary>
    /// <param name="parent">The dataset the images come from.</param>
    /// <param name="indices">Parent indices, each in [0, parent.Count), in the order this dataset serves them.</param>
    /// <param name="name">Name for logs, e.g. <c>fashion-mnist:train (validation)</c>.</param>
    /// <exception cref="ArgumentOutOfRangeException">When an index is outside the parent.</exception>
    public ImageSubset(IImageDataset parent, IReadOnlyList<int> indices, string name)
    {
        ArgumentNullException.ThrowIfNull(parent);
        ArgumentNullException.ThrowIfNull(indices);
        ArgumentException.ThrowIfNullOrEmpty(name);
        _indices = indices.ToArray();
        foreach (int i in _indices)
            if ((uint)i >= (uint)parent.Count)
                throw new ArgumentOutOfRangeException(nameof(indices), i, $"{name}: index must be in [0, {parent.Count}) of {parent.Name}.");
        _parent = parent;
        Name = name;
    }

    /// <summary>The parent index of each image here.</summary>
    public IReadOnlyList<int> Indices => _indices;

    /// <inheritdoc />
    public string Name { get; }

    /// <inheritdoc />
    public int Count => _indices.Length;

    /// <inheritdoc />
    public int Channels => _parent.Channels;

    /// <inheritdoc />
    public int? NativeSize => _parent.NativeSize;

    /// <inheritdoc />
    public int NumClasses => _parent.NumClasses;

    /// <inheritdoc />
    public IReadOnlyList<string> ClassNames => _parent.ClassNames;

    /// <inheritdoc />
    public NormalizationStats DefaultNormalization => _parent.DefaultNormalization;

    /// <inheritdoc />
    public int GetLabel(int index) => _parent.GetLabel(Parent(index));

    /// <inheritdoc />
    public (int Height, int Width) GetImageSize(int index) => _parent.GetImageSize(Parent(index));

    /// <inheritdoc />
    public ImageData ReadImage(int index) => _parent.ReadImage(Parent(index));

    /// <inheritdoc />
    public override string ToString() => $"{Name}: {Count} images of {_parent.Name}";

    private int Parent(int index)
    {
        if ((uint)index >= (uint)_indices.Length)
            throw new ArgumentOutOfRangeException(nameof(index), index, $"{Name}: index must be in [0, {Count}).");
        return _indices[index];
    }
}
