using System.Globalization;
using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace CrateMae.Evaluation;

/// <summary>
/// Counts of (true class, predicted class) pairs: row = true class, column = prediction. Per-class accuracy is the
/// diagonal over the row sum (recall). <see cref="Reporting.ConfusionMatrixPlot"/> draws it.
/// </summary>
public sealed class ConfusionMatrix
{
    private readonly long[,] _counts;

    /// <param name="numClasses">C ≥ 1.</param>
    /// <param name="classNames">Optional display names, one per class (default "0", "1", …).</param>
    public ConfusionMatrix(int numClasses, IReadOnlyList<string>? classNames = null)
    {
        if (numClasses < 1) throw new ArgumentOutOfRangeException(nameof(numClasses), numClasses, "numClasses must be ≥ 1");
        if (classNames is not null && classNames.Count != numClasses)
            throw new ArgumentException($"classNames has {classNames.Count} names; expected one per class ({numClasses})", nameof(classNames));
        NumClasses = numClasses;
        ClassNames = classNames?.ToArray() ?? Enumerable.Range(0, numClasses).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToArray();
        _counts = new long[numClasses, numClasses];
    }

    public int NumClasses { get; }
    public IReadOnlyList<string> ClassNames { get; }

    /// <summary>Samples counted.</summary>
    public long Total { get; private set; }

    /// <summary>Count of samples of class <paramref name="trueClass"/> predicted as <paramref name="predicted"/>.</summary>
    public long this[int trueClass, int predicted] => _counts[trueClass, predicted];

    /// <summary>A copy of the counts [true, predicted].</summary>
    public long[,] Counts => (long[,])_counts.Clone();

    /// <summary>Builds the matrix from label and prediction tensors [n] (integer dtypes, any device).</summary>
    public static ConfusionMatrix FromPredictions(Tensor labels, Tensor predictions, int numClasses, IReadOnlyList<string>? classNames = null)
    {
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(predictions);
        if (labels.dim() != 1 || predictions.dim() != 1 || labels.shape[0] != predictions.shape[0])
            throw new ArgumentException($"labels [{string.Join(", ", labels.shape)}] and predictions [{string.Join(", ", predictions.shape)}] " +
                                        "must both be [n] with the same n");
        if (labels.is_floating_point() || predictions.is_floating_point())
            throw new ArgumentException($"labels ({labels.dtype}) and predictions ({predictions.dtype}) must hold integer class indices");
        using var scope = NewDisposeScope();
        var y = MemoryMarshal.Cast<byte, long>(labels.to(int64, CPU).contiguous().bytes).ToArray();
        var p = MemoryMarshal.Cast<byte, long>(predictions.to(int64, CPU).contiguous().bytes).ToArray();
        return FromPredictions(y, p, numClasses, classNames);
    }

    /// <summary>Builds the matrix from label and prediction arrays of equal length.</summary>
    public static ConfusionMatrix FromPredictions(ReadOnlySpan<long> labels, ReadOnlySpan<long> predictions, int numClasses,
        IReadOnlyList<string>? classNames = null)
    {
        if (labels.Length != predictions.Length)
            throw new ArgumentException($"labels ({labels.Length}) and predictions ({predictions.Length}) differ in length");
        var m = new ConfusionMatrix(numClasses, classNames);
        for (int i = 0; i < labels.Length; i++) m.Add(labels[i], predictions[i]);
        return m;
    }

    /// <summary>Counts one sample.</summary>
    public void Add(long trueClass, long predicted)
    {
        if (trueClass < 0 || trueClass >= NumClasses)
            throw new ArgumentOutOfRangeException(nameof(trueClass), trueClass, $"true class must be in [0, {NumClasses})");
        if (predicted < 0 || predicted >= NumClasses)
            throw new ArgumentOutOfRangeException(nameof(predicted), predicted, $"predicted class must be in [0, {NumClasses})");
        _counts[trueClass, predicted]++;
        Total++;
    }

    /// <summary>Samples of class <paramref name="trueClass"/> (row sum).</summary>
    public long Support(int trueClass)
    {
        long s = 0;
        for (int j = 0; j < NumClasses; j++) s += _counts[trueClass, j];
        return s;
    }

    /// <summary>Overall accuracy (trace / total); NaN when empty.</summary>
    public double Accuracy
    {
        get
        {
            long diag = 0;
            for (int i = 0; i < NumClasses; i++) diag += _counts[i, i];
            return Total == 0 ? double.NaN : (double)diag / Total;
        }
    }

    /// <summary>Per-class accuracy (recall): diagonal / row sum; NaN for a class with no samples.</summary>
    public double[] PerClassAccuracy() =>
        Enumerable.Range(0, NumClasses).Select(i => Support(i) is var s && s > 0 ? (double)_counts[i, i] / s : double.NaN).ToArray();
}
