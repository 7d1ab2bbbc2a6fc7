using CrateMae.Analysis;
using CrateMae.Reporting;
using CrateMae.Tests.Analysis;
using SkiaSharp;
using static TorchSharp.torch;

namespace CrateMae.Tests.Reporting;

public sealed class RenderingTests : IDisposable
{
    private readonly string _dir;
    private readonly bool _keep;

    public RenderingTests()
    {
        AnalysisTestSupport.Init();
        (_dir, _keep) = AnalysisTestSupport.OutputDir("figures");
    }

    public void Dispose()
    {
        if (!_keep) Directory.Delete(_dir, recursive: true);
    }

    private static (int Width, int Height) Decode(string path)
    {
        using var bmp = SKBitmap.Decode(path);
        Assert.NotNull(bmp);
        return (bmp.Width, bmp.Height);
    }

    private static WhiteBoxReport Report(string name, double shift, int layers = 6) => new(name, 10, "crate", 0.01,
        Enumerable.Range(1, layers).Select(l => new LayerStatistics(l, 40 - 3 * l + shift, 1 + 0.1 * l, 0.9 - 0.05 * l - shift / 100, 0.02, 0.1 + 0.05 * l + shift / 100)).ToArray());

    [Fact]
    public void LayerCurves_WriteDecodablePngs_WithSeveralSeries()
    {
        // Given two named reports
        ReportSeries[] series = [new("random init", Report("random", 5)), new("trained", Report("trained", 0))];

        // When both plots are written
        var rc = Path.Combine(_dir, "coding_rate.png");
        var sp = Path.Combine(_dir, "sparsity.png");
        LayerCurvePlot.SaveCodingRate(rc, series);
        LayerCurvePlot.SaveSparsity(sp, series, width: 500, height: 400);

        // Then they decode with the requested sizes and no temporary files remain
        Assert.Equal((640, 480), Decode(rc));
        Assert.Equal((500, 400), Decode(sp));
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp-*"));
        Assert.Throws<ArgumentException>(() => LayerCurvePlot.SaveCodingRate(rc, []));
    }

    [Fact]
    public void AttentionGrid_HasOnePanelPerHeadPlusImageAndAverage()
    {
        // Given the tiny model's last-layer attention on 2 images (16×16, 4×4 grid, 2 heads)
        var model = AnalysisTestSupport.TinyModel();
        using var imgs = AnalysisTestSupport.RandomImages(2, seed: 12);
        var probe = new LayerProbe(model);
        using var attention = probe.AttentionMaps(imgs);
        using var maps = AttentionSaliency.ClsMaps(attention, 4, 4);

        // When rendered with the default scale (8 → 128-pixel panels)
        var path = Path.Combine(_dir, "attention.png");
        AttentionGridImage.Save(path, imgs, maps);

        // Then 4 columns (image, 2 heads, mean) × 2 rows of 128-pixel panels, 4-pixel gaps and a 20-pixel caption row
        Assert.Equal((4 * 128 + 5 * 4, 20 + 2 * 128 + 3 * 4), Decode(path));
    }

    [Fact]
    public void PcaPanels_ShowImageRgbAndComponents()
    {
        // Given a PCA of the tiny model's last-layer descriptors of 3 images
        var model = AnalysisTestSupport.TinyModel();
        using var imgs = AnalysisTestSupport.RandomImages(3, seed: 13);
        var probe = new LayerProbe(model);
        using var descriptors = probe.PatchDescriptors(imgs);
        var pca = PatchPca.Fit(descriptors, components: 4);
        using var grid = pca.ProjectGrid(descriptors, 4, 4);
        using var normalized = PatchPca.MinMaxNormalize(grid);
        using var rgb = PatchPca.Rgb(normalized, firstComponent: 1);

        // When rendered at scale 4 with the 4 grey components
        var path = Path.Combine(_dir, "pca.png");
        PcaPanelImage.Save(path, imgs, rgb, normalized, scale: 4);

        // Then 6 columns (image, RGB, 4 components) × 3 rows of 64-pixel panels
        Assert.Equal((6 * 64 + 7 * 4, 20 + 3 * 64 + 4 * 4), Decode(path));
    }

    [Fact]
    public void Figures_WithSyntheticObject_ShowWhereAttentionIs()
    {
        // Given a colour image with a bright square and attention concentrated on it (for a visual check)
        using var img = full(1, 3, 32, 32, -1f);
        img[0, 0, 8..16, 16..24] = tensor(2f);
        img[0, 1, 8..16, 16..24] = tensor(1f);
        using var fg = AttentionSaliency.ForegroundMask(img, 8);
        using var maps = stack([fg.to(ScalarType.Float32) * 0.9f + 0.1f, rand(1, 4, 4)], 1);   // [1, 2, 4, 4]

        var path = Path.Combine(_dir, "attention_square.png");
        AttentionGridImage.Save(path, img, maps, mean: [0.5], std: [0.25]);

        Assert.Equal((4 * 128 + 5 * 4, 20 + 128 + 2 * 4), Decode(path));
        var ratio = AttentionSaliency.ForegroundRatio(maps[.., 0], fg);
        Assert.True(ratio.Mean > 1);
    }
}
