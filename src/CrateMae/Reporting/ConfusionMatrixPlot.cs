using System.Globalization;
using CrateMae.Evaluation;
using CrateMae.IO;

namespace CrateMae.Reporting;

/// <summary>
/// A <see cref="ConfusionMatrix"/> as a PNG heatmap with ScottPlot: colour = row-normalised fraction (with a colour bar),
/// text = count; rows = true class from the top, columns = prediction.
/// </summary>
public static class ConfusionMatrixPlot
{
    /// <summary>Renders <paramref name="matrix"/> and writes the PNG atomically to <paramref name="path"/>.</summary>
    /// <param name="matrix">The counts.</param>
    /// <param name="path">Output file (.png).</param>
    /// <param name="title">Plot title (default "Confusion matrix: accuracy …").</param>
    /// <param name="sizePixels">Image width and height; default grows with the class count (min 480).</param>
    public static void Save(ConfusionMatrix matrix, string path, string? title = null, int? sizePixels = null)
    {
        ArgumentNullException.ThrowIfNull(matrix);
        int size = sizePixels ?? Math.Max(480, 160 + 48 * matrix.NumClasses);
        if (size < 100) throw new ArgumentOutOfRangeException(nameof(sizePixels), sizePixels, "sizePixels must be ≥ 100");
        AtomicFile.WriteAllBytes(path, Render(matrix, title, size));
    }

    /// <summary>The PNG bytes of <see cref="Save"/>.</summary>
    public static byte[] Render(ConfusionMatrix matrix, string? title = null, int size = 640)
    {
        ArgumentNullException.ThrowIfNull(matrix);
        string family = TextFonts.PlotFamily;    // registered before the plot is built
        int c = matrix.NumClasses;
        var fractions = new double[c, c];
        for (int i = 0; i < c; i++)
        {
            long s = matrix.Support(i);
            for (int j = 0; j < c; j++) fractions[i, j] = s > 0 ? (double)matrix[i, j] / s : 0;
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
            var text = plot.Add.Text(matrix[i, j].ToString(CultureInfo.InvariantCulture), j, c - 1 - i);
            text.LabelAlignment = ScottPlot.Alignment.MiddleCenter;
            text.LabelFontSize = fontSize;
            text.LabelFontName = family;
            text.LabelFontColor = fractions[i, j] > 0.6 ? ScottPlot.Colors.Black : ScottPlot.Colors.White;
        }

        var names = matrix.ClassNames;
        var bottom = new ScottPlot.TickGenerators.NumericManual();
        var left = new ScottPlot.TickGenerators.NumericManual();
        for (int k = 0; k < c; k++)
        {
            bottom.AddMajor(k, names[k]);
            left.AddMajor(c - 1 - k, names[k]);
        }
        plot.Axes.Bottom.TickGenerator = bottom;
        plot.Axes.Left.TickGenerator = left;
        if (names.Any(n => n.Length > 3))
        {
            // Long names: rotated labels need more room below the axis than ScottPlot reserves for them.
            plot.Axes.Bottom.TickLabelStyle.Rotation = -40;
            plot.Axes.Bottom.TickLabelStyle.Alignment = ScottPlot.Alignment.MiddleRight;
            int longest = names.Max(n => n.Length);
            plot.Axes.Bottom.MinimumSize = (float)Math.Min(220, 30 + 0.64 * 7.5 * longest);
        }
        plot.Axes.Bottom.Label.Text = "predicted class";
        plot.Axes.Left.Label.Text = "true class";
        plot.Title(title ?? $"Confusion matrix: accuracy {matrix.Accuracy.ToString("P2", CultureInfo.InvariantCulture)}, n = {matrix.Total}\n" +
                            "(counts; colour = fraction of the true class)");
        plot.Font.Set(family);
        plot.Axes.SetLimits(-0.5, c - 0.5, -0.5, c - 0.5);
        return plot.GetImageBytes(size + 80, size, ScottPlot.ImageFormat.Png);
    }
}
