using System.Text.RegularExpressions;
using CrateMae.Analysis;
using CrateMae.Reporting;
using CrateMae.Tests.Analysis;
using SkiaSharp;

namespace CrateMae.Tests.Reporting;

[Collection(AnalysisCliCollection.Name)]
public sealed class RunReportTests(AnalysisCliFixture f)
{
    /// <summary>A run folder as pretrain leaves it (final.ckpt, config, metrics, loss plot, 3 reconstruction grids) plus one eval result.</summary>
    private string MakeRun()
    {
        var run = f.NewDir("reportrun");
        File.Copy(Path.Combine(f.Run, "final.ckpt"), Path.Combine(run, "final.ckpt"));
        File.WriteAllText(Path.Combine(run, "config.json"), """{"model": {"name": "tiny-crate", "depth": 2}, "data": "folder", "lr": 0.001}""");
        File.WriteAllLines(Path.Combine(run, "metrics.jsonl"),
        [
            """{"type":"epoch","epoch":0,"step":0,"test_loss":2.5,"lr":0,"seconds":0}""",
            """{"type":"step","epoch":1,"step":2,"loss":1.5,"lr":0.001}""",
            """{"type":"epoch","epoch":1,"step":4,"train_loss":1.4,"test_loss":1.2,"lr":0.001,"seconds":3.5}""",
        ]);
        File.WriteAllText(Path.Combine(run, "summary.json"), """{"epochs_completed": 1, "last_test_loss": 1.2, "interrupted": false}""");
        Plots.SaveLinePlot(Path.Combine(run, "loss.png"), [new LineSeries("train", [1, 2], [1.5, 1.4])], "loss", "step", "mse", 300, 200);
        for (int e = 0; e < 3; e++)
            ImageWriter.SavePng(Path.Combine(run, "reconstructions", $"epoch-{e:D3}.png"), new CrateMae.Data.FloatImage(1, 8, 8 + e));
        Directory.CreateDirectory(Path.Combine(run, "eval"));
        File.WriteAllText(Path.Combine(run, "eval", "knn.json"), """{"kind": "knn", "schema_version": 1, "model": "tiny", "top1": 0.75, "k": [10, 20]}""");
        return run;
    }

    private static void AssertSelfContained(string html)
    {
        Assert.DoesNotContain("http://", html);
        Assert.DoesNotContain("https://", html);
        Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("<link", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("url(", html);
        foreach (Match m in Regex.Matches(html, "src=\""))
            Assert.StartsWith("src=\"data:image/png;base64,", html.Substring(m.Index, 30));
    }

    private static int DecodeEmbeddedImages(string html)
    {
        var images = Regex.Matches(html, "src=\"data:image/png;base64,([A-Za-z0-9+/=]+)\"");
        foreach (Match m in images)
        {
            using var bmp = SKBitmap.Decode(Convert.FromBase64String(m.Groups[1].Value));
            Assert.NotNull(bmp);
        }
        return images.Count;
    }

    [Fact]
    public void Given_a_run_When_report_Then_one_self_contained_page_with_every_section_and_computed_analysis()
    {
        // Given
        var run = MakeRun();

        // When the report computes the missing analysis, attention maps and PCA from the image folder
        var (code, err) = AnalysisCliFixture.Cli("report", run, "--data", f.Data, "--limit", "6", "--json");

        // Then
        Assert.True(code == 0, err);
        var html = File.ReadAllText(Path.Combine(run, "report.html"));
        foreach (var section in RunReport.Sections) Assert.Contains($"<h2>{section}</h2>", html);
        Assert.Equal(RunReport.Sections.Count, Regex.Matches(html, "<h2>").Count);
        AssertSelfContained(html);
        // loss + first/last reconstruction + coding rate + sparsity + attention + PCA
        Assert.Equal(7, DecodeEmbeddedImages(html));
        Assert.Contains("epoch-000", html);
        Assert.Contains("epoch-002", html);
        Assert.DoesNotContain("epoch-001.png", html);
        Assert.Contains("random init (seed 0)", html);
        Assert.Contains("Foreground ratio", html);
        Assert.Contains("<h3>Trained vs random init</h3>", html);
        Assert.Contains("Compared with the random init, training ", html);
        Assert.Contains("knn.json", html);
        Assert.Contains("0.75", html);
        Assert.DoesNotContain("class=\"missing\"", html);
        foreach (var file in new[] { "analysis.json", "coding-rate.png", "sparsity.png", "attention.png", "attention.json", "pca.png", "pca.json" })
            Assert.True(File.Exists(Path.Combine(run, "analysis", file)), file);
    }

    [Fact]
    public void GivenAnAnalysisWithARandomInitSeries_WhenReported_ThenTheSentenceAndTheTrainedVsRandomTableWithDifferencesAreShown()
    {
        // Given an analysis.json of a 2-layer model and its random init, with the foreground ratio of layer 2 only
        var run = f.NewDir("effect");
        static WhiteBoxReport Report(string name, double rc1, double rc2, double d1, double d2, double? fg2) => new(name, 8, "crate", 0.01,
            [new LayerStatistics(1, rc1, 1, d1, 0.01, 1 - d1), new LayerStatistics(2, rc2, 1, d2, 0.01, 1 - d2, fg2, 0.1)]);
        var trained = Report("effect (trained)", 90, 101, 0.4, 0.31, 1.21);
        var random = Report("random init (seed 0)", 100, 184, 0.5, 0.52, 0.92);
        new AnalysisFile(AnalysisFile.CurrentSchema, "folder:x", 8, "unmasked",
        [
            new AnalysisSeries(trained.Model, Path.Combine(run, "final.ckpt"), trained),
            new AnalysisSeries(random.Model, "random init of tiny-crate, seed 0", random),
        ]).Save(Path.Combine(run, RunReport.AnalysisFolder, AnalysisFile.FileName));

        // When
        var html = RunReport.Build(run);

        // Then: the series table has a foreground column (— where not measured), and the contrast follows it
        var effect = TrainingEffect.Between(trained, random);
        Assert.Contains("<th>Rᶜ</th><th>ℓ⁰ density</th><th>fg ratio</th>", html);
        Assert.Contains("<td>1.210 ± 0.100</td>", html);
        Assert.Contains("<td>—</td>", html);
        Assert.Contains("<h3>Trained vs random init</h3>", html);
        Assert.Contains("<p>" + System.Net.WebUtility.HtmlEncode(effect.Summary) + "</p>", html);
        Assert.Contains("<tr><td>2</td><td>101.00</td><td>184.00</td><td class=\"nw\">−83.00 (−45.1 %)</td>" +
                        "<td>0.310</td><td>0.520</td><td class=\"nw\">−0.210 (−40.4 %)</td>" +
                        "<td>1.210</td><td>0.920</td><td class=\"nw\">+0.290 (+31.5 %)</td></tr>", html);
        Assert.Contains("<tr><td>1</td><td>90.00</td><td>100.00</td><td class=\"nw\">−10.00 (−10.0 %)</td>", html);
    }

    [Fact]
    public void Given_a_bare_run_When_report_without_computing_Then_every_section_is_there_and_says_what_is_missing()
    {
        var run = f.NewDir("bare");
        var html = RunReport.Build(run);
        foreach (var section in RunReport.Sections) Assert.Contains($"<h2>{section}</h2>", html);
        AssertSelfContained(html);
        Assert.Equal(RunReport.Sections.Count, Regex.Matches(html, "class=\"missing\"").Count);
        Assert.Contains("crate-mae analyze --checkpoint", html);
    }

    [Fact]
    public void Given_text_with_markup_in_the_run_files_When_report_Then_it_is_escaped()
    {
        var run = f.NewDir("escape");
        File.WriteAllText(Path.Combine(run, "config.json"), """{"data": "<img src=x onerror=alert(1)>"}""");
        var html = RunReport.Build(run);
        Assert.DoesNotContain("<img src=x", html);
        Assert.Contains("&lt;img src=x", html);
    }
}
