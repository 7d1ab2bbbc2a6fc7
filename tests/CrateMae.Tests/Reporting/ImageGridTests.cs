using CrateMae.Data;
using CrateMae.Reporting;
using CrateMae.Tests.Data;
using SkiaSharp;
using TorchSharp;

namespace CrateMae.Tests.Reporting;

public sealed class ImageGridTests : IDisposable
{
    private readonly TempDirectory _tmp = new();

    public void Dispose() => _tmp.Dispose();

    private static FloatImage Fill(int c, int h, int w, float v)
    {
        var img = new FloatImage(c, h, w);
        Array.Fill(img.Data, v);
        return img;
    }

    [Fact]
    public void GivenRowsOfPanels_WhenSavedWithoutText_ThenPixelSizeFollowsLayout()
    {
        var grid = new ImageGrid { Upscale = 4, Gap = 2 };
        grid.AddRow(Fill(1, 28, 28, 0f), Fill(3, 28, 28, 0.5f), Fill(1, 28, 28, 1f), Fill(3, 28, 28, 0.25f));
        grid.AddRow(Fill(1, 28, 28, 0f), Fill(3, 28, 28, 0.5f), Fill(1, 28, 28, 1f), Fill(3, 28, 28, 0.25f));
        var path = _tmp.File("grid.png");

        grid.SavePng(path);

        using var bmp = SKBitmap.Decode(path);
        Assert.Equal(2 + (4 * ((28 * 4) + 2)), bmp.Width);
        Assert.Equal(2 + (2 * ((28 * 4) + 2)), bmp.Height);
        Assert.Equal(SKColors.White, bmp.GetPixel(1, 1)); // gap
        Assert.Equal(new SKColor(0, 0, 0), bmp.GetPixel(2 + 50, 2 + 50)); // panel (0,0)
        Assert.Equal(new SKColor(128, 128, 128), bmp.GetPixel(2 + 114 + 50, 2 + 114 + 50)); // panel (1,1)
    }

    [Fact]
    public void GivenColumnHeaders_WhenRendered_ThenTextPixelsAppearAboveThePanels()
    {
        var grid = new ImageGrid(["original", "masked", "reconstruction", "recon + visible"]) { Upscale = 4 };
        grid.AddRow(Fill(1, 28, 28, 0.2f), Fill(1, 28, 28, 0.4f), Fill(1, 28, 28, 0.6f), Fill(1, 28, 28, 0.8f));

        using var bmp = grid.Render();

        int headerHeight = bmp.Height - (2 + 112 + 2);
        Assert.True(headerHeight >= 13, $"header band {headerHeight}px");
        int dark = 0;
        for (int y = 0; y < headerHeight; y++)
            for (int x = 0; x < bmp.Width; x++)
                if (bmp.GetPixel(x, y).Red < 128) dark++;
        Assert.True(dark > 100, $"only {dark} dark pixels in the header band: text did not render (fonts?)");
    }

    [Fact]
    public void GivenBatches_WhenGridBuiltFromColumns_ThenOneRowPerSampleUpToMaxRows()
    {
        using var a = torch.rand(5, 1, 8, 8);
        using var b = torch.rand(5, 3, 8, 8);

        var grid = ImageGrid.FromBatches([a, b], ["a", "b"], maxRows: 3);

        Assert.Equal(3, grid.RowCount);
        Assert.Equal(2, grid.ColumnCount);
        Assert.Equal(12, grid.EffectiveUpscale); // auto: 8 px -> at least 96 px
        using var bmp = grid.Render();
        int panelsHeight = 2 + (3 * ((8 * 12) + 2));
        Assert.InRange(bmp.Height, panelsHeight + 13, panelsHeight + 40); // plus one header band
        Assert.Equal(2 + (2 * ((8 * 12) + 2)), bmp.Width);
    }

    [Fact]
    public void GivenBatchesOfDifferentSizes_WhenGridBuilt_ThenErrorListsTheCounts()
    {
        using var a = torch.rand(5, 1, 8, 8);
        using var b = torch.rand(4, 1, 8, 8);

        var e = Assert.Throws<ArgumentException>(() => ImageGrid.FromBatches([a, b]));

        Assert.Contains("5, 4", e.Message);
    }

    [Fact]
    public void GivenRealFashionMnist_WhenGridWithHeadersAndRowLabelsSaved_ThenPngDecodes()
    {
        var ds = FashionMnist.Open(split: DataSplit.Test);
        var grid = new ImageGrid(["original", "masked", "reconstruction", "recon + visible"]);
        for (int i = 0; i < 3; i++)
        {
            var img = ds.ReadImage(i).ToFloat();
            var masked = img.Clone();
            for (int y = 0; y < 28; y++)
                for (int x = 0; x < 28; x++)
                    if (((y / 7) + (x / 7)) % 2 == 0) masked[0, y, x] = 0.5f;
            var heat = Heatmap.Overlay(img, Enumerable.Range(0, 16).Select(k => k / 15f).ToArray(), 4, 4, Colormap.Viridis, 0.5f);
            grid.AddRow(ds.ClassNames[ds.GetLabel(i)], img, masked, img, heat);
        }
        var path = _tmp.File("fashion-grid.png");

        grid.SavePng(path);

        using var bmp = SKBitmap.Decode(path);
        Assert.NotNull(bmp);
        Assert.True(bmp.Width > 4 * 112 && bmp.Height > 3 * 112);
    }
}
