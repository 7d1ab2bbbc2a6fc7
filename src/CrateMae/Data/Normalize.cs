namespace CrateMae.Data;

/// <summary>Per-channel <c>(x - mean[c]) / std[c]</c>, in place.</summary>
public sealed class Normalize : IImageTransform
{
    private readonly float[] _mean;
    private readonly float[] _invStd;

    /// <summary>Creates the transform.</summary>
    /// <exception cref="ArgumentException">When the statistics are inconsistent or a std is not positive.</exception>
    public Normalize(NormalizationStats stats)
    {
        ArgumentNullException.ThrowIfNull(stats);
        stats.Validate();
        Stats = stats;
        _mean = stats.Mean.ToArray();
        _invStd = stats.Std.Select(s => 1f / s).ToArray();
    }

    /// <summary>Creates the transform from explicit means and standard deviations.</summary>
    /// <exception cref="ArgumentException">When the lengths differ or a std is not positive.</exception>
    public Normalize(IReadOnlyList<float> mean, IReadOnlyList<float> std) : this(new NormalizationStats(mean, std))
    {
    }

    /// <summary>The statistics.</summary>
    public NormalizationStats Stats { get; }

    /// <inheritdoc />
    public FloatImage Apply(FloatImage image, SampleRandom random)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (image.Channels != _mean.Length)
            throw new ArgumentException(
                $"Normalize: image has {image.Channels} channels but the statistics ({Stats}) have {_mean.Length}; " +
                "adapt them with NormalizationStats.ForChannels.", nameof(image));
        for (int c = 0; c < image.Channels; c++)
        {
            var plane = image.Plane(c);
            float m = _mean[c], inv = _invStd[c];
            for (int i = 0; i < plane.Length; i++) plane[i] = (plane[i] - m) * inv;
        }
        return image;
    }
}
