using CrateMae.Analysis;
using ScottPlot;

namespace CrateMae.Reporting;

/// <summary>
/// The two white-box line plots over layers ℓ = 1 … L (spec §7.3), drawn with the shared
/// <see cref="Plots.SaveErrorBarPlot"/> and written as PNG atomically: coding rate R^c (circle markers) and ℓ⁰ density /
/// sparsity (square markers), error bars = std over images. Several named series are overlaid (same axes, one colour
/// and legend entry each, slightly shifted sideways so their error bars stay readable).
/// </summary>
public static class LayerCurvePlot
{
    /// <summary>Default figure size in pixels.</summary>
    public const int DefaultWidth = 640, DefaultHeight = 480;

    /// <summary>Plot file names inside an analysis folder.</summary>
    public const string CodingRatePng = "coding-rate.png", SparsityPng = "sparsity.png";

    /// <summary>Sideways shift between overlaid series, in layers.</summary>
    private const double Dodge = 0.08;

    /// <summary>
    /// Writes <c>analysis.json</c>, <c>coding-rate.png</c> and <c>sparsity.png</c> (every series of
    /// <paramref name="file"/> overlaid) into <paramref name="folder"/>; returns their paths.
    /// </summary>
    public static IReadOnlyList<string> SaveAll(AnalysisFile file, string folder)
    {
        ArgumentNullException.ThrowIfNull(file);
        Directory.CreateDirectory(folder);
        var json = Path.Combine(folder, AnalysisFile.FileName);
        var rc = Path.Combine(folder, CodingRatePng);
        var sp = Path.Combine(folder, SparsityPng);
        file.Save(json);
        var series = file.Series.Select(s => new ReportSeries(s.Name, s.Report)).ToArray();
        SaveCodingRate(rc, series, title: $"Coding rate Rᶜ across layers ({file.Images} images, {file.Data})");
        SaveSparsity(sp, series, title: $"Sparsity across layers ({file.Images} images, {file.Data})");
        return [json, rc, sp];
    }

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
        var lines = series.Select(s =>
        {
            var values = s.Report.Layers.Select(select).ToArray();
            return new ErrorBarSeries(s.Name, s.Report.Layers.Select(l => (double)l.Layer).ToArray(),
                values.Select(v => v.Mean).ToArray(), values.Select(v => v.Std).ToArray()) { Marker = marker };
        }).ToList();
        Plots.SaveErrorBarPlot(path, lines, title, "layer ℓ", yLabel, width, height, dodge: series.Count > 1 ? Dodge : 0, integerX: true);
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
