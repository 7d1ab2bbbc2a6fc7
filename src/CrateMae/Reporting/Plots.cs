using CrateMae.IO;
using ScottPlot;

namespace CrateMae.Reporting;

/// <summary>PNG line plots with ScottPlot 5 (written atomically; text in DejaVu Sans when installed).</summary>
public static class Plots
{
    /// <summary>
    /// Plots one or more named series (e.g. train loss per step and test loss per epoch) with a legend and writes a PNG.
    /// </summary>
    /// <param name="path">Output PNG file (folder created if needed).</param>
    /// <param name="series">The lines; each X/Y pair must have equal lengths.</param>
    /// <param name="title">Plot title.</param>
    /// <param name="xLabel">X-axis label.</param>
    /// <param name="yLabel">Y-axis label.</param>
    /// <param name="width">Image width in pixels.</param>
    /// <param name="height">Image height in pixels.</param>
    /// <param name="logY">Logarithmic y axis (non-positive values are left out).</param>
    /// <exception cref="ArgumentException">When a series has X and Y of different lengths or the size is not positive.</exception>
    public static void SaveLinePlot(string path, IReadOnlyList<LineSeries> series, string title, string xLabel, string yLabel,
                                    int width = 900, int height = 540, bool logY = false)
    {
        ArgumentNullException.ThrowIfNull(series);
        CheckSize(width, height);
        var plot = NewPlot(title, xLabel, yLabel);
        var palette = new ScottPlot.Palettes.Category10();
        for (int i = 0; i < series.Count; i++)
        {
            var s = series[i];
            if (s.X.Count != s.Y.Count)
                throw new ArgumentException($"Plots.SaveLinePlot: series '{s.Name}' has {s.X.Count} x values and {s.Y.Count} y values.", nameof(series));
            var (xs, ys) = Finite(s.X, s.Y, logY);
            if (xs.Length == 0) continue;
            var line = plot.Add.Scatter(xs, ys, palette.GetColor(i));
            line.LegendText = s.Name;
            line.LineWidth = s.LineWidth;
            line.MarkerSize = s.ShowMarkers || xs.Length == 1 ? 6 : 0;
        }
        if (logY) UseLogTicks(plot);
        Finish(plot, path, width, height, legend: series.Count > 0);
    }

    /// <summary>
    /// Plots several overlaid mean ± std series (markers at the means, error bars, connecting lines), e.g. a statistic per layer,
    /// and writes a PNG.
    /// </summary>
    /// <param name="path">Output PNG file.</param>
    /// <param name="series">The series; X, Mean and Std must have equal lengths.</param>
    /// <param name="title">Plot title.</param>
    /// <param name="xLabel">X-axis label (e.g. "layer").</param>
    /// <param name="yLabel">Y-axis label.</param>
    /// <param name="width">Image width in pixels.</param>
    /// <param name="height">Image height in pixels.</param>
    /// <param name="dodge">Horizontal offset between series (in x units) so overlapping bars stay readable; 0 = none.</param>
    /// <param name="integerX">Only integer x ticks (layer indices).</param>
    /// <exception cref="ArgumentException">When the lengths differ or the size is not positive.</exception>
    public static void SaveErrorBarPlot(string path, IReadOnlyList<ErrorBarSeries> series, string title, string xLabel, string yLabel,
                                        int width = 900, int height = 540, double dodge = 0.0, bool integerX = true)
    {
        ArgumentNullException.ThrowIfNull(series);
        CheckSize(width, height);
        var plot = NewPlot(title, xLabel, yLabel);
        var palette = new ScottPlot.Palettes.Category10();
        var markers = new[] { MarkerShape.FilledCircle, MarkerShape.FilledSquare, MarkerShape.FilledTriangleUp, MarkerShape.FilledDiamond, MarkerShape.OpenCircle };
        for (int i = 0; i < series.Count; i++)
        {
            var s = series[i];
            if (s.X.Count != s.Mean.Count || s.X.Count != s.Std.Count)
                throw new ArgumentException(
                    $"Plots.SaveErrorBarPlot: series '{s.Name}' has {s.X.Count} x, {s.Mean.Count} mean and {s.Std.Count} std values.", nameof(series));
            double shift = dodge * (i - ((series.Count - 1) / 2.0));
            var keep = Enumerable.Range(0, s.X.Count)
                .Where(k => double.IsFinite(s.X[k]) && double.IsFinite(s.Mean[k]))
                .ToArray();
            if (keep.Length == 0) continue;
            double[] xs = keep.Select(k => s.X[k] + shift).ToArray();
            double[] ys = keep.Select(k => s.Mean[k]).ToArray();
            double[] es = keep.Select(k => double.IsFinite(s.Std[k]) ? Math.Abs(s.Std[k]) : 0).ToArray();
            var color = palette.GetColor(i);
            var bars = plot.Add.ErrorBar(xs, ys, es);
            bars.Color = color;
            bars.LineWidth = 1.5f;
            bars.CapSize = 6;
            var line = plot.Add.Scatter(xs, ys, color);
            line.LegendText = s.Name;
            line.LineWidth = 1.5f;
            line.MarkerSize = 8;
            line.MarkerShape = s.Marker ?? markers[i % markers.Length];
        }
        if (integerX) plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { IntegerTicksOnly = true };
        Finish(plot, path, width, height, legend: series.Count > 0);
    }

    private static Plot NewPlot(string title, string xLabel, string yLabel)
    {
        var plot = new Plot();
        plot.Font.Set(TextFonts.PlotFamily);
        plot.Title(title ?? string.Empty);
        plot.XLabel(xLabel ?? string.Empty);
        plot.YLabel(yLabel ?? string.Empty);
        return plot;
    }

    private static void Finish(Plot plot, string path, int width, int height, bool legend)
    {
        if (legend)
        {
            plot.ShowLegend(Alignment.UpperRight);
        }
        var bytes = plot.GetImageBytes(width, height, ImageFormat.Png);
        AtomicFile.WriteAllBytes(path, bytes);
    }

    private static void UseLogTicks(Plot plot)
    {
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic
        {
            MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator(),
            IntegerTicksOnly = true,
            LabelFormatter = y => Math.Pow(10, y).ToString("G3", System.Globalization.CultureInfo.InvariantCulture),
        };
    }

    private static (double[] X, double[] Y) Finite(IReadOnlyList<double> x, IReadOnlyList<double> y, bool logY)
    {
        var xs = new List<double>(x.Count);
        var ys = new List<double>(y.Count);
        for (int i = 0; i < x.Count; i++)
        {
            double yv = y[i];
            if (!double.IsFinite(x[i]) || !double.IsFinite(yv)) continue;
            if (logY)
            {
                if (yv <= 0) continue;
                yv = Math.Log10(yv);
            }
            xs.Add(x[i]);
            ys.Add(yv);
        }
        return (xs.ToArray(), ys.ToArray());
    }

    private static void CheckSize(int width, int height)
    {
        if (width < 50 || height < 50 || width > 10000 || height > 10000)
            throw new ArgumentException($"Plots: image size {width}x{height} must be within 50..10000 pixels per side.");
    }
}
