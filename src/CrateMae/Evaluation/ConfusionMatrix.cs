using System.Globalization;
using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace CrateMae.Evaluation;

/// <summary>
/// Counts of (true class, predicted class) pairs: row = true class, column = prediction. Per-class accuracy is the
/// diagonal over the row sum (recall). <see cref="SavePng"/> renders a labelled heatmap with ScottPlot.
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

    /// <summary>
    /// Renders the matrix as a PNG heatmap (colour = row-normalised fraction with a colour bar, text = count; rows = true
    /// class from the top, columns = prediction) and writes it atomically to <paramref name="path"/>.
    /// </summary>
    /// <param name="path">Output file (.png).</param>
    /// <param name="title">Plot title (default "Confusion matrix (accuracy …)").</param>
    /// <param name="sizePixels">Image width and height; default grows with the class count (min 480).</param>
    public void SavePng(string path, string? title = null, int? sizePixels = null)
    {
        int size = sizePixels ?? Math.Max(480, 160 + 48 * NumClasses);
        if (size < 100) throw new ArgumentOutOfRangeException(nameof(sizePixels), sizePixels, "sizePixels must be ≥ 100");
        AtomicFile.WriteAllBytes(path, RenderPng(title, size));
    }

    /// <summary>The PNG bytes of <see cref="SavePng"/>.</summary>
    public byte[] RenderPng(string? title = null, int size = 640)
    {
        PlotFonts.EnsureDejaVu();
        int c = NumClasses;
        var fractions = new double[c, c];
        for (int i = 0; i < c; i++)
        {
            long s = Support(i);
            for (int j = 0; j < c; j++) fractions[i, j] = s > 0 ? (double)_counts[i, j] / s : 0;
        }

        var plot = new ScottPlot.Plot();
        var heatmap = plot.Add.Heatmap(fractions);
        heatmap.Colormap = new ScottPlot.Colormaps.Viridis();
        heatmap.ManualRange = new ScottPlot.Range(0, 1);
        // Row 0 of the data is drawn at the top; cell (i, j) is centred at x = j, y = c − 1 − i (the extent gives the
        // centres of the corner cells, as the cells are centre-aligned).
        if (c > 1) heatmap.Extent = new ScottPlot.CoordinateRect(0, c - 1, 0, c - 1);
        var colorBar = plot.Add.ColorBar(heatmap);

        float fontSize = (float)Math.Clamp(size / (3.2 * c), 8, 16);
        for (int i = 0; i < c; i++)
        for (int j = 0; j < c; j++)
        {
            var text = plot.Add.Text(_counts[i, j].ToString(CultureInfo.InvariantCulture), j, c - 1 - i);
            text.LabelAlignment = ScottPlot.Alignment.MiddleCenter;
            text.LabelFontSize = fontSize;
            text.LabelFontName = PlotFonts.Family;
            text.LabelFontColor = fractions[i, j] > 0.6 ? ScottPlot.Colors.Black : ScottPlot.Colors.White;
        }

        var bottom = new ScottPlot.TickGenerators.NumericManual();
        var left = new ScottPlot.TickGenerators.NumericManual();
        for (int k = 0; k < c; k++)
        {
            bottom.AddMajor(k, ClassNames[k]);
            left.AddMajor(c - 1 - k, ClassNames[k]);
        }
        plot.Axes.Bottom.TickGenerator = bottom;
        plot.Axes.Left.TickGenerator = left;
        if (ClassNames.Any(n => n.Length > 3))
        {
            // Long names: rotated labels need more room below the axis than ScottPlot reserves for them.
            plot.Axes.Bottom.TickLabelStyle.Rotation = -40;
            plot.Axes.Bottom.TickLabelStyle.Alignment = ScottPlot.Alignment.MiddleRight;
            int longest = ClassNames.Max(n => n.Length);
            plot.Axes.Bottom.MinimumSize = (float)Math.Min(220, 30 + 0.64 * 7.5 * longest);
        }
        plot.Axes.Bottom.Label.Text = "predicted class";
        plot.Axes.Left.Label.Text = "true class";
        plot.Title(title ?? $"Confusion matrix: accuracy {Accuracy.ToString("P2", CultureInfo.InvariantCulture)}, n = {Total}\n" +
                            "(counts; colour = fraction of the true class)");
        plot.Font.Set(PlotFonts.Family);
        plot.Axes.SetLimits(-0.5, c - 0.5, -0.5, c - 0.5);
        return plot.GetImageBytes(size + 80, size, ScottPlot.ImageFormat.Png);
    }
}
