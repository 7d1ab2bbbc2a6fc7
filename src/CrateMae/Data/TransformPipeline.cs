namespace CrateMae.Data;

/// <summary>
/// A sequence of <see cref="IImageTransform"/> steps that turns a decoded <see cref="ImageData"/> into a float image of exactly
/// <see cref="Channels"/> × <see cref="Size"/> × <see cref="Size"/> (CHW). Randomness comes from a <see cref="SampleRandom"/> keyed by
/// (seed, epoch, dataset index), so the output is a pure function of those and the input. Thread-safe.
/// </summary>
/// <param name="Size">Output side length S.</param>
/// <param name="Channels">Output channel count C (1 or 3), i.e. the model's input channels.</param>
/// <param name="Steps">The transforms, applied in order to the image converted to [0, 1] floats.</param>
public sealed record TransformPipeline(int Size, int Channels, IReadOnlyList<IImageTransform> Steps)
{
    /// <summary>Output side length S.</summary>
    public int Size { get; init; } = Size > 0 ? Size : throw new ArgumentOutOfRangeException(nameof(Size), Size, "TransformPipeline: size must be positive.");

    /// <summary>Output channel count C (1 or 3).</summary>
    public int Channels { get; init; } = Channels is 1 or 3
        ? Channels
        : throw new ArgumentOutOfRangeException(nameof(Channels), Channels, "TransformPipeline: channels must be 1 or 3.");

    /// <summary>The steps.</summary>
    public IReadOnlyList<IImageTransform> Steps { get; init; } = Steps ?? throw new ArgumentNullException(nameof(Steps));

    /// <summary>Number of floats one output image has (C·S·S).</summary>
    public int OutputLength => Channels * Size * Size;

    /// <summary>
    /// Training preset (MAE pre-training): [to gray if C = 1] → <see cref="RandomResizedCrop"/>(S, scale, ratio 3/4–4/3) →
    /// <see cref="RandomHorizontalFlip"/>(p) → [to RGB if C = 3] → <see cref="Normalize"/>(stats adapted to C).
    /// </summary>
    /// <param name="size">Output side S.</param>
    /// <param name="channels">Model channels C.</param>
    /// <param name="normalization">Statistics for the dataset's native channels (adapted with <see cref="NormalizationStats.ForChannels"/>).</param>
    /// <param name="minScale">Smallest crop area fraction (MAE: 0.2).</param>
    /// <param name="maxScale">Largest crop area fraction.</param>
    /// <param name="flipProbability">Horizontal flip probability (0 disables flipping).</param>
    /// <param name="interpolation">Resampling filter (MAE: bicubic).</param>
    public static TransformPipeline Train(int size, int channels, NormalizationStats normalization, double minScale = 0.2, double maxScale = 1.0,
                                         double flipProbability = 0.5, Interpolation interpolation = Interpolation.Bicubic)
    {
        ArgumentNullException.ThrowIfNull(normalization);
        var steps = new List<IImageTransform>();
        if (channels == 1) steps.Add(new ConvertChannels(1));
        steps.Add(new RandomResizedCrop(size, minScale, maxScale, interpolation: interpolation));
        if (flipProbability > 0) steps.Add(new RandomHorizontalFlip(flipProbability));
        if (channels == 3) steps.Add(new ConvertChannels(3));
        steps.Add(new Normalize(normalization.ForChannels(channels)));
        return new TransformPipeline(size, channels, steps);
    }

    /// <summary>
    /// Evaluation preset: [to gray if C = 1] → <see cref="Resize"/>(shorter side = ⌊S / cropFraction⌋) → <see cref="CenterCrop"/>(S) →
    /// [to RGB if C = 3] → <see cref="Normalize"/>. With the default crop fraction 1 an image already S × S passes through unchanged
    /// (right for Fashion-MNIST/CIFAR); use 0.875 for the ImageNet protocol (resize 256, crop 224).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">When <paramref name="cropFraction"/> is not in (0, 1].</exception>
    public static TransformPipeline Eval(int size, int channels, NormalizationStats normalization, double cropFraction = 1.0,
                                        Interpolation interpolation = Interpolation.Bicubic)
    {
        ArgumentNullException.ThrowIfNull(normalization);
        if (!(cropFraction > 0 && cropFraction <= 1))
            throw new ArgumentOutOfRangeException(nameof(cropFraction), cropFraction, "TransformPipeline.Eval: crop fraction must be in (0, 1].");
        var steps = new List<IImageTransform>();
        if (channels == 1) steps.Add(new ConvertChannels(1));
        steps.Add(new Resize((int)Math.Floor((size / cropFraction) + 1e-9), interpolation));
        steps.Add(new CenterCrop(size));
        if (channels == 3) steps.Add(new ConvertChannels(3));
        steps.Add(new Normalize(normalization.ForChannels(channels)));
        return new TransformPipeline(size, channels, steps);
    }

    /// <summary>Applies the steps with the generator for (seed, epoch, index).</summary>
    public FloatImage Apply(ImageData image, ulong seed, long epoch, long index) => Apply(image, new SampleRandom(seed, epoch, index));

    /// <summary>Applies the steps to <paramref name="image"/> and checks the output shape.</summary>
    /// <exception cref="InvalidOperationException">When the steps do not produce C × S × S.</exception>
    public FloatImage Apply(ImageData image, SampleRandom random)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(random);
        var x = image.ToFloat();
        foreach (var step in Steps) x = step.Apply(x, random);
        if (x.Channels != Channels || x.Height != Size || x.Width != Size)
            throw new InvalidOperationException(
                $"TransformPipeline produced {x.Channels}x{x.Height}x{x.Width}, expected {Channels}x{Size}x{Size}; " +
                "the steps must end with a fixed-size crop and a channel conversion.");
        return x;
    }

    /// <summary>Applies the steps and copies the C·S·S result into <paramref name="destination"/>.</summary>
    /// <exception cref="ArgumentException">When the destination is shorter than <see cref="OutputLength"/>.</exception>
    public void ApplyTo(ImageData image, SampleRandom random, Span<float> destination)
    {
        if (destination.Length < OutputLength)
            throw new ArgumentException($"TransformPipeline.ApplyTo: destination has {destination.Length} floats, need {OutputLength}.", nameof(destination));
        Apply(image, random).Data.CopyTo(destination);
    }
}
