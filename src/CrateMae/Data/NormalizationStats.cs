namespace CrateMae.Data;

/// <summary>Per-channel mean and standard deviation used by <see cref="Normalize"/>: <c>(x - mean) / std</c>.</summary>
/// <param name="Mean">Per-channel means (values in [0,1] units).</param>
/// <param name="Std">Per-channel standard deviations (positive).</param>
public sealed record NormalizationStats(IReadOnlyList<float> Mean, IReadOnlyList<float> Std)
{
    /// <summary>Fashion-MNIST training set: mean 0.2860, std 0.3530 (gray).</summary>
    public static NormalizationStats FashionMnist { get; } = new([0.2860f], [0.3530f]);

    /// <summary>MNIST training set: mean 0.1307, std 0.3081 (gray).</summary>
    public static NormalizationStats Mnist { get; } = new([0.1307f], [0.3081f]);

    /// <summary>CIFAR-10 training set: (0.4914, 0.4822, 0.4465) / (0.2470, 0.2435, 0.2616).</summary>
    public static NormalizationStats Cifar10 { get; } = new([0.4914f, 0.4822f, 0.4465f], [0.2470f, 0.2435f, 0.2616f]);

    /// <summary>CIFAR-100 training set: (0.5071, 0.4865, 0.4409) / (0.2673, 0.2564, 0.2762).</summary>
    public static NormalizationStats Cifar100 { get; } = new([0.5071f, 0.4865f, 0.4409f], [0.2673f, 0.2564f, 0.2762f]);

    /// <summary>ImageNet: (0.485, 0.456, 0.406) / (0.229, 0.224, 0.225); the default for image folders.</summary>
    public static NormalizationStats ImageNet { get; } = new([0.485f, 0.456f, 0.406f], [0.229f, 0.224f, 0.225f]);

    /// <summary>Number of channels the statistics describe.</summary>
    public int Channels => Mean.Count;

    /// <summary>
    /// Adapts the statistics to <paramref name="channels"/> model channels: 1 → 3 replicates the gray values;
    /// 3 → 1 uses the ITU-R 601 luma weights (0.299, 0.587, 0.114) for the mean and, as an approximation that assumes
    /// strongly correlated channels, for the std as well. Same count → this instance.
    /// </summary>
    /// <exception cref="ArgumentException">When the conversion is not 1↔3 or the statistics are inconsistent.</exception>
    public NormalizationStats ForChannels(int channels)
    {
        Validate();
        if (channels == Channels) return this;
        if (Channels == 1 && channels == 3)
            return new NormalizationStats([Mean[0], Mean[0], Mean[0]], [Std[0], Std[0], Std[0]]);
        if (Channels == 3 && channels == 1)
            return new NormalizationStats([Luma(Mean)], [Luma(Std)]);
        throw new ArgumentException($"NormalizationStats: cannot adapt {Channels}-channel statistics to {channels} channels (only 1 and 3 are supported).");
    }

    /// <summary>Checks that Mean and Std have the same non-zero length and every std is finite and positive.</summary>
    /// <exception cref="ArgumentException">When they do not.</exception>
    public void Validate()
    {
        if (Mean is null || Std is null || Mean.Count == 0 || Mean.Count != Std.Count)
            throw new ArgumentException($"NormalizationStats: Mean and Std must be non-empty and of equal length, got {Mean?.Count ?? 0} and {Std?.Count ?? 0}.");
        for (int i = 0; i < Std.Count; i++)
        {
            if (!(Std[i] > 0) || float.IsInfinity(Std[i]) || !float.IsFinite(Mean[i]))
                throw new ArgumentException($"NormalizationStats: channel {i} has mean {Mean[i]} and std {Std[i]}; std must be finite and > 0.");
        }
    }

    /// <inheritdoc />
    public override string ToString() =>
        $"mean=({string.Join(", ", Mean.Select(m => m.ToString("0.####", System.Globalization.CultureInfo.InvariantCulture)))}) " +
        $"std=({string.Join(", ", Std.Select(s => s.ToString("0.####", System.Globalization.CultureInfo.InvariantCulture)))})";

    private static float Luma(IReadOnlyList<float> v) => (0.299f * v[0]) + (0.587f * v[1]) + (0.114f * v[2]);
}
