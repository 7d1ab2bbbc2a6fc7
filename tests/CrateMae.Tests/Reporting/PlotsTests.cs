using CrateMae.Reporting;
using CrateMae.Tests.Data;
using SkiaSharp;

namespace CrateMae.Tests.Reporting;

public sealed class PlotsTests : IDisposable
{
    private readonly TempDirectory _tmp = new();

    public void Dispose() => _tmp.Dispose();

    private static int DarkPixels(SKBitmap bmp, int y0, int y1)
    {
        int dark = 0;
        for (int y = y0; y < y1; y++)
            for (int x = 0; x < bmp.Width; x++)
                if (bmp.GetPixel(x, y) is var p && p.Red < 100 && p.Green < 100 && p.Blue < 100) dark++;
        return dark;
    }

    [Fact]
    public void GivenTrainAndTestLossSeries_WhenLinePlotSaved_ThenPngHasRequestedSizeAndTitleText()
    {
        var steps = Enumerable.Range(0, 500).Select(i => (double)i).ToArray();
        var train = new LineSeries("train loss (per step)", steps, steps.Select(s => 1.0 / (1 + (s / 50)) + (0.02 * Math.Sin(s))).ToArray());
        var test = new LineSeries("test loss (per epoch)", [99, 199, 299, 399, 499], [0.35, 0.22, 0.17, 0.15, 0.14]) { ShowMarkers = true };
        var path = _tmp.File("plots", "loss.png");

        Plots.SaveLinePlot(path, [train, test], "CRATE-MAE pre-training loss", "step", "MSE (masked patches)", 800, 480);

        Assert.True(new FileInfo(path).Length > 5000);
        using var bmp = SKBitmap.Decode(path);
        Assert.Equal((800, 480), (bmp.Width, bmp.Height));
        Assert.True(DarkPixels(bmp, 0, 40) > 100, "the title did not render (fonts?)");
    }

    [Fact]
    public void GivenLogScaleAndNonFiniteValues_WhenLinePlotSaved_ThenBadPointsAreSkipped()
    {
        var path = _tmp.File("log.png");

        Plots.SaveLinePlot(path, [new LineSeries("loss", [0, 1, 2, 3], [1.0, double.NaN, 0.01, -1])], "log", "step", "loss", logY: true);

        using var bmp = SKBitmap.Decode(path);
        Assert.Equal(900, bmp.Width);
    }

    [Fact]
    public void GivenSeveralMeanStdSeries_WhenErrorBarPlotSaved_ThenPngDecodes()
    {
        double[] layers = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
        var series = new[]
        {
            new ErrorBarSeries("coding rate (train)", layers, layers.Select(l => 10 - (0.5 * l)).ToArray(), layers.Select(l => 0.3 + (0.05 * l)).ToArray()),
            new ErrorBarSeries("coding rate (test)", layers, layers.Select(l => 10.3 - (0.45 * l)).ToArray(), layers.Select(_ => 0.4).ToArray()),
            new ErrorBarSeries("sparsity", layers, layers.Select(l => 2 + (0.2 * l)).ToArray(), layers.Select(_ => 0.2).ToArray()),
        };
        var path = _tmp.File("layers.png");

        Plots.SaveErrorBarPlot(path, series, "Per-layer statistics (mean ± std)", "layer index", "value", dodge: 0.12);

        using var bmp = SKBitmap.Decode(path);
        Assert.Equal((900, 540), (bmp.Width, bmp.Height));
        Assert.True(DarkPixels(bmp, 0, 40) > 100, "the title did not render (fonts?)");
    }

    [Fact]
    public void GivenMismatchedLengths_WhenPlotted_ThenErrorNamesTheSeries()
    {
        var e = Assert.Throws<ArgumentException>(() =>
            Plots.SaveErrorBarPlot(_tmp.File("x.png"), [new ErrorBarSeries("bad", [0, 1], [1, 2], [0.1])], "t", "x", "y"));

        Assert.Contains("'bad'", e.Message);
    }
}
