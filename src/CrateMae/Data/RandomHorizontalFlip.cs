namespace CrateMae.Data;

/// <summary>Mirrors the image left–right with probability <see cref="Probability"/> (in place). Always consumes one random number.</summary>
public sealed class RandomHorizontalFlip : IImageTransform
{
    /// <summary>Creates the transform.</summary>
    /// <exception cref="ArgumentOutOfRangeException">When the probability is outside [0, 1].</exception>
    public RandomHorizontalFlip(double probability = 0.5)
    {
        if (!(probability >= 0 && probability <= 1))
            throw new ArgumentOutOfRangeException(nameof(probability), probability, "RandomHorizontalFlip: probability must be in [0, 1].");
        Probability = probability;
    }

    /// <summary>Flip probability.</summary>
    public double Probability { get; }

    /// <inheritdoc />
    public FloatImage Apply(FloatImage image, SampleRandom random)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(random);
        if (random.NextDouble() < Probability) Flip(image);
        return image;
    }

    /// <summary>Mirrors every row of <paramref name="image"/> in place.</summary>
    public static void Flip(FloatImage image)
    {
        ArgumentNullException.ThrowIfNull(image);
        for (int r = 0; r < image.Channels * image.Height; r++)
            image.Data.AsSpan(r * image.Width, image.Width).Reverse();
    }
}
