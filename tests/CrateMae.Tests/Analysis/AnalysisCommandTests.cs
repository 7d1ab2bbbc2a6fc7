using System.Text.Json.Nodes;
using CrateMae.Analysis;
using CrateMae.Reporting;
using SkiaSharp;

namespace CrateMae.Tests.Analysis;

[Collection(AnalysisCliCollection.Name)]
public sealed class AnalysisCommandTests(AnalysisCliFixture f)
{
    private static (int Width, int Height) Decode(string path)
    {
        Assert.True(File.Exists(path), $"{path} was not written");
        using var bmp = SKBitmap.Decode(path);
        Assert.NotNull(bmp);
        return (bmp.Width, bmp.Height);
    }

    [Fact]
    public void Given_a_run_When_analyze_with_random_init_Then_json_has_both_series_per_layer_and_plots_decode()
    {
        // Given the tiny run and 6 dataset images
        var outDir = f.NewDir("analyze");

        // When
        var (code, err) = AnalysisCliFixture.Cli("analyze", "--checkpoint", f.Run, "--data", f.Data, "--limit", "6", "--batch-size", "4",
            "--random-init", "--output", outDir, "--json");

        // Then: one series per model, every layer finite, both plots at the default size
        Assert.True(code == 0, err);
        var file = AnalysisFile.Load(Path.Combine(outDir, "analysis.json"));
        Assert.Equal(6, file.Images);
        Assert.Equal(["run (trained)", "random init (seed 0)"], file.Series.Select(s => s.Name));
        foreach (var s in file.Series)
        {
            Assert.Equal([1, 2], s.Report.Layers.Select(l => l.Layer));
            Assert.All(s.Report.Layers, l => Assert.True(double.IsFinite(l.CodingRateMean) && l.CodingRateStd >= 0 && l.SparsityMean is >= 0 and <= 1));
            Assert.All(s.Report.Layers, l => Assert.True(l.ForegroundRatioMean > 0, $"{s.Name} layer {l.Layer}: foreground ratio {l.ForegroundRatioMean}"));
        }
        Assert.True(file.Series[1].IsRandomInit);
        Assert.StartsWith("Compared with the random init, training ", TrainingEffect.Of(file)!.Summary);
        Assert.Equal((640, 480), Decode(Path.Combine(outDir, "coding-rate.png")));
        Assert.Equal((640, 480), Decode(Path.Combine(outDir, "sparsity.png")));
    }

    [Fact]
    public void Given_a_run_folder_When_analyze_without_out_Then_it_writes_into_RUN_analysis()
    {
        var copy = f.NewDir("runcopy");
        File.Copy(Path.Combine(f.Run, "final.ckpt"), Path.Combine(copy, "final.ckpt"));

        var (code, err) = AnalysisCliFixture.Cli("analyze", "--checkpoint", copy, "--data", f.Data, "--limit", "3", "--json");

        Assert.True(code == 0, err);
        Assert.True(File.Exists(Path.Combine(copy, "analysis", "analysis.json")));
        Assert.Single(AnalysisFile.Load(Path.Combine(copy, "analysis", "analysis.json")).Series);
    }

    [Fact]
    public void Given_dataset_images_When_attention_Then_grid_has_a_panel_per_head_plus_image_and_mean_and_json_has_the_ratio()
    {
        var png = Path.Combine(f.NewDir("attention"), "att.png");

        var (code, err) = AnalysisCliFixture.Cli("attention", "--checkpoint", f.Run, "--data", f.Data, "--index", "1", "--count", "3",
            "--limit", "6", "--random-init", "--output", png, "--json");

        // Then: 3 rows of 4 panels (image, 2 heads, mean) of 16·8 = 128 px, plus the row labels on the left
        Assert.True(code == 0, err);
        var (w, h) = Decode(png);
        Assert.Equal(20 + 3 * 128 + 4 * 4, h);
        Assert.InRange(w, 4 * 128 + 5 * 4 + 1, 4 * 128 + 5 * 4 + 120);
        var summary = AttentionSummary.FromJson(File.ReadAllText(Path.ChangeExtension(png, ".json")));
        Assert.Equal(2, summary.Layer);                               // the last of the 2 blocks (1-based, as --layer)
        Assert.Equal(2, summary.Heads);
        Assert.Equal([4, 4], summary.Grid);
        Assert.Equal(["#1", "#2", "#3"], summary.Shown);
        Assert.NotNull(summary.DatasetRatio);
        Assert.NotNull(summary.RandomInitRatio);
        Assert.Equal(6, summary.DatasetRatio!.Images + summary.DatasetRatio.Skipped);
        Assert.True(summary.DatasetRatio.Images > 0 && double.IsFinite(summary.DatasetRatio.Mean) && summary.DatasetRatio.Mean > 0);
        Assert.Equal(2, summary.DatasetRatio.PerHeadMean.Count);
    }

    [Fact]
    public void Given_image_files_When_pca_with_the_reference_components_Then_one_row_per_file_with_image_rgb_and_each_component()
    {
        var png = Path.Combine(f.NewDir("pca"), "pca.png");
        var files = new[] { "img0.png", "img3.png" }.Select(n => Path.Combine(f.Images, n)).ToArray();

        var (code, err) = AnalysisCliFixture.Cli("pca", "--checkpoint", f.Run, "--image", files[0], "--image", files[1], "--layer", "1",
            "--components", "4", "--first-component", "1", "--output", png, "--json");

        // Then: 6 columns (image, RGB, PC 1-4) × 2 rows of 128-px panels
        Assert.True(code == 0, err);
        Assert.Equal((6 * 128 + 7 * 4, 20 + 2 * 128 + 3 * 4), Decode(png));
        var json = JsonNode.Parse(File.ReadAllText(Path.ChangeExtension(png, ".json")))!;
        Assert.Equal(1, json["layer"]!.GetValue<int>());          // block 1 of 2, counted as --layer counts
        Assert.Equal(1, json["first_component"]!.GetValue<int>());
        Assert.Equal(32, json["descriptors"]!.GetValue<int>());
        Assert.Equal(4, json["explained_variance_ratio"]!.AsArray().Count);
    }

    [Fact]
    public void Given_image_files_When_reconstruct_Then_four_columns_one_row_per_image()
    {
        var png = Path.Combine(f.NewDir("recon"), "r.png");

        var (code, err) = AnalysisCliFixture.Cli("reconstruct", "--checkpoint", f.Run, "--image", Path.Combine(f.Images, "img1.png"),
            "--image", Path.Combine(f.Images, "img2.png"), "--mask-ratio", "0.5", "--seed", "3", "--output", png, "--json");

        // Then: ImageGrid defaults: 16-px images enlarged 6× to 96 px, 2-px gaps, a 22-px header row
        Assert.True(code == 0, err);
        var (w, h) = Decode(png);
        Assert.Equal(2 + 22 + 2 * (96 + 2), h);
        Assert.True(w >= 2 + 4 * (96 + 2), $"width {w}");
    }

    [Fact]
    public void Given_a_layer_out_of_range_When_attention_or_pca_Then_a_clear_error_and_exit_code_2()
    {
        var dir = f.NewDir("badlayer");
        foreach (var (cmd, layer) in new[] { ("attention", "3"), ("pca", "0") })
        {
            var (code, err) = AnalysisCliFixture.Cli(cmd, "--checkpoint", f.Run, "--data", f.Data, "--layer", layer, "--output", Path.Combine(dir, cmd + ".png"));
            Assert.Equal(2, code);
            Assert.Contains($"--layer {layer} is out of range", err);
            Assert.Contains("2 encoder blocks, numbered 1 … 2", err);
            Assert.False(File.Exists(Path.Combine(dir, cmd + ".png")));
        }
    }

    [Fact]
    public void Given_a_missing_image_file_When_any_image_command_Then_the_error_names_the_file()
    {
        // (relative and short: the error console wraps long words at 80 columns)
        const string missing = "no-such-image-4c1d.png";
        foreach (var cmd in new[] { "attention", "pca", "reconstruct" })
        {
            var (code, err) = AnalysisCliFixture.Cli(cmd, "--checkpoint", f.Run, "--image", missing);
            Assert.NotEqual(0, code);
            Assert.Contains($"--image {missing}: no such file", err);
        }
    }

    [Fact]
    public void Given_conflicting_or_impossible_selections_When_run_Then_usage_errors()
    {
        var img = Path.Combine(f.Images, "img0.png");
        var both = AnalysisCliFixture.Cli("reconstruct", "--checkpoint", f.Run, "--image", img, "--index", "0");
        Assert.Equal(2, both.Code);
        Assert.Contains("not both", both.Error);

        var outside = AnalysisCliFixture.Cli("attention", "--checkpoint", f.Run, "--data", f.Data, "--index", "5", "--count", "4");
        Assert.Equal(2, outside.Code);
        Assert.Contains("has 6 images", outside.Error);

        var noCheckpoint = AnalysisCliFixture.Cli("analyze", "--data", f.Data);
        Assert.Equal(2, noCheckpoint.Code);
        Assert.Contains("--checkpoint is required", noCheckpoint.Error);

        var badComponent = AnalysisCliFixture.Cli("pca", "--checkpoint", f.Run, "--image", img, "--components", "4", "--first-component", "2");
        Assert.Equal(2, badComponent.Code);
        Assert.Contains("--first-component 2", badComponent.Error);
    }
}
