using CrateMae.Analysis;

namespace CrateMae.Tests.Analysis;

public sealed class AnalysisFileTests
{
    private static AnalysisFile Sample() => new(1, "fashion-mnist:test", 2, "unmasked",
    [
        new AnalysisSeries("run (trained)", "/runs/a/final.ckpt", new WhiteBoxReport("run (trained)", 2, "crate", 0.01,
            [new LayerStatistics(1, 10.5, 0.25, 0.5, 0.125, 0.5, 1.25, 0.5)])),
    ]);

    [Fact]
    public void Given_an_analysis_When_serialised_Then_the_schema_is_exactly_the_documented_one()
    {
        // Given / When
        var json = Sample().ToJson().ReplaceLineEndings("\n");

        // Then: field names, order and nesting are pinned (a change here is a schema change: bump schema_version)
        const string expected = """
            {
              "schema_version": 1,
              "data": "fashion-mnist:test",
              "images": 2,
              "path": "unmasked",
              "series": [
                {
                  "name": "run (trained)",
                  "source": "/runs/a/final.ckpt",
                  "report": {
                    "model": "run (trained)",
                    "images": 2,
                    "block_kind": "crate",
                    "epsilon": 0.01,
                    "layers": [
                      {
                        "layer": 1,
                        "coding_rate_mean": 10.5,
                        "coding_rate_std": 0.25,
                        "sparsity_mean": 0.5,
                        "sparsity_std": 0.125,
                        "zero_fraction_mean": 0.5,
                        "foreground_ratio_mean": 1.25,
                        "foreground_ratio_std": 0.5
                      }
                    ]
                  }
                }
              ]
            }
            """;
        Assert.Equal(expected, json);
    }

    [Fact]
    public void Given_its_json_When_read_back_Then_equal_and_unknown_fields_or_versions_are_rejected()
    {
        var json = Sample().ToJson();
        var back = AnalysisFile.FromJson(json);
        Assert.Equal(json, back.ToJson());

        Assert.Throws<ArgumentException>(() => AnalysisFile.FromJson(json.Replace("\"images\": 2,", "\"images\": 2, \"extra\": 1,")));
        var other = Assert.Throws<ArgumentException>(() => AnalysisFile.FromJson(json.Replace("\"schema_version\": 1", "\"schema_version\": 2")));
        Assert.Contains("schema_version 2", other.Message);
        Assert.Throws<ArgumentException>(() => AnalysisFile.FromJson(json.Replace("\"layer\": 1", "\"layer\": 3")));
    }

    [Fact]
    public void GivenAFileWithoutForegroundRatios_WhenRead_ThenTheyAreNullAndWrittenAsNull()
    {
        // Given a layer without the optional foreground-ratio fields
        var json = System.Text.RegularExpressions.Regex.Replace(Sample().ToJson(), @",\s*""foreground_ratio_mean"": 1.25,\s*""foreground_ratio_std"": 0.5", "");
        Assert.DoesNotContain("foreground_ratio", json);

        // When
        var layer = AnalysisFile.FromJson(json).Series[0].Report.Layers[0];

        // Then
        Assert.Null(layer.ForegroundRatioMean);
        Assert.Null(layer.ForegroundRatioStd);
        Assert.Equal(10.5, layer.CodingRateMean);
        Assert.Contains("\"foreground_ratio_mean\": null", new AnalysisFile(1, "d", 1, "unmasked",
            [new AnalysisSeries("n", "s", new WhiteBoxReport("n", 1, "crate", 0.01, [layer]))]).ToJson());
    }
}

// Runs alone: seeded construction goes through the process-wide libtorch generator (TorchSharp init ignores generators).
[Collection(nameof(CrateMae.Tests.Models.GlobalRngCollection))]
public sealed class RandomInitTests
{
    [Fact]
    public void Given_a_seed_When_two_random_init_models_are_built_Then_their_weights_are_equal_and_another_seed_differs()
    {
        // Given / When
        AnalysisTestSupport.Init();
        var config = AnalysisTestSupport.TinyConfig();
        using var a = WhiteBoxComparison.RandomInit(config, 3);
        using var b = WhiteBoxComparison.RandomInit(config, 3);
        using var c = WhiteBoxComparison.RandomInit(config, 4);

        // Then
        var sa = a.state_dict();
        var sb = b.state_dict();
        var sc = c.state_dict();
        Assert.All(sa, kv => Assert.True(kv.Value.eq(sb[kv.Key]).all().item<bool>(), $"{kv.Key} differs for the same seed"));
        Assert.Contains(sa, kv => !kv.Value.eq(sc[kv.Key]).all().item<bool>());
    }
}
