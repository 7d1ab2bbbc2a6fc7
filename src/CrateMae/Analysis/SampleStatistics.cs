namespace CrateMae.Analysis;

/// <summary>Mean and unbiased standard deviation of per-sample values (one value per image).</summary>
/// <param name="Count">Number of samples.</param>
/// <param name="Mean">Arithmetic mean.</param>
/// <param name="Std">
/// Unbiased (n − 1) standard deviation, as the reference measurement reports it. With a single sample it is
/// undefined; it is then reported as 0 so that JSON and error bars stay finite.
/// </param>
public sealed record SampleStatistics(int Count, double Mean, double Std)
{
    /// <summary>Statistics of <paramref name="values"/> (at least one, all finite), computed in two passes in double.</summary>
    /// <exception cref="ArgumentException">No values, or a value is NaN/infinite.</exception>
    public static SampleStatistics Of(IReadOnlyCollection<double> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values.Count == 0) throw new ArgumentException("statistics of an empty set of samples are undefined", nameof(values));
        double sum = 0;
        foreach (var v in values)
        {
            if (!double.IsFinite(v)) throw new ArgumentException($"sample value {v} is not finite", nameof(values));
            sum += v;
        }
        double mean = sum / values.Count;
        if (values.Count == 1) return new SampleStatistics(1, mean, 0);
        double ss = 0;
        foreach (var v in values) ss += (v - mean) * (v - mean);
        return new SampleStatistics(values.Count, mean, Math.Sqrt(ss / (values.Count - 1)));
    }
}
