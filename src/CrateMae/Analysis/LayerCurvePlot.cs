using ScottPlot;

namespace CrateMae.Analysis;

/// <summary>
/// The two white-box line plots over layers ℓ = 1 … L (spec §7.3), drawn with ScottPlot and written as PNG
/// atomically: coding rate R^c (circle markers) and ℓ⁰ density / sparsity (square markers), error bars = std over
/// images. Several named series can be overlaid.
/// </summary>
public static class LayerCurvePlot
{
    /// <summary>Default figure size in pixels.</summary>
    public const int DefaultWidth = 640, DefaultHeight = 480;

    private const string FontName = "DejaVu Sans";

    /// <summary>R^c per layer with std error bars.</summary>
    /// <exception cref="ArgumentException">No series, or a series has no layers.</exception>
    public static void SaveCodingRate(string path, IReadOnlyList<ReportSeries> series, int width = DefaultWidth, int height = DefaultHeight, string? title = null)
    {
        CheckSeries(series);
        double eps = series[0].Report.Epsilon;
        Render(path, series, width, height,
            title ?? "Coding rate Rᶜ across layers",
            series.All(s => s.Report.Epsilon == eps) ? $"Rᶜ (ε = {eps:G3})" : "Rᶜ",
            MarkerShape.FilledCircle,
            l => (l.CodingRateMean, l.CodingRateStd));
    }

    /// <summary>ℓ⁰ density ‖Z^{ℓ+1}‖₀/(N·D) = 1 − zero fraction per layer (lower = sparser), error bars = std of the zero fraction.</summary>
    /// <exception cref="ArgumentException">No series, or a series has no layers.</exception>
    public static void SaveSparsity(string path, IReadOnlyList<ReportSeries> series, int width = DefaultWidth, int height = DefaultHeight, string? title = null)
    {
        CheckSeries(series);
        Render(path, series, width, height,
            title ?? "Sparsity across layers",
            "ℓ⁰ density ‖Z‖₀ / (N·D)  (lower = sparser)",
            MarkerShape.FilledSquare,
            l => (l.SparsityMean, l.SparsityStd));
    }

    private static void Render(string path, IReadOnlyList<ReportSeries> series, int width, int height, string title, string yLabel,
        MarkerShape marker, Func<LayerStatistics, (double Mean, double Std)> select)
    {
        if (width < 100 || height < 100) throw new ArgumentException($"figure must be at least 100×100 pixels, got {width}×{height}");
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        for (int i = 0; i < series.Count; i++)
        {
            var layers = series[i].Report.Layers;
            double[] xs = layers.Select(l => (double)l.Layer).ToArray();
            var values = layers.Select(select).ToArray();
            double[] ys = values.Select(v => v.Mean).ToArray();
            double[] errs = values.Select(v => v.Std).ToArray();
            var color = palette.GetColor(i);
            var bars = plot.Add.ErrorBar(xs, ys, errs);
            bars.Color = color;
            var line = plot.Add.Scatter(xs, ys, color);
            line.MarkerShape = marker;
            line.MarkerSize = 8;
            line.LineWidth = 1.5f;
            line.LegendText = series[i].Name;
        }
        int maxLayer = series.Max(s => s.Report.Layers.Count);
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericFixedInterval(maxLayer > 16 ? 2 : 1);
        plot.Axes.SetLimitsX(0.5, maxLayer + 0.5);
        plot.Title(title);
        plot.XLabel("layer ℓ");
        plot.YLabel(yLabel);
        plot.ShowLegend(Alignment.UpperRight);
        // DejaVu Sans (Debian's fonts-dejavu-core) has ℓ, ε, ‖ and ⁰; if it is missing ScottPlot falls back to a system font.
        plot.Font.Set(FontName);
        AtomicFile.WriteAllBytes(path, plot.GetImageBytes(width, height, ImageFormat.Png));
    }

    private static void CheckSeries(IReadOnlyList<ReportSeries> series)
    {
        ArgumentNullException.ThrowIfNull(series);
        if (series.Count == 0) throw new ArgumentException("nothing to plot: no series", nameof(series));
        foreach (var s in series)
            if (s?.Report?.Layers is not { Count: > 0 })
                throw new ArgumentException($"series '{s?.Name}' has no layers", nameof(series));
    }
}
