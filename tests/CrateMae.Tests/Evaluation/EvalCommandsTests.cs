using System.Text.Json;
using CrateMae.Cli.Commands;
using CrateMae.Evaluation;
using CrateMae.Models;
using CrateMae.Training;
using TorchSharp;
using Xunit.Abstractions;

namespace CrateMae.Tests.Evaluation;

/// <summary>The linprobe / knn commands run in-process on a tiny checkpoint and an 8×8 three-class dataset.</summary>
[Collection(EvaluationTestCollection.Name)]
public sealed class EvalCommandsTests(ITestOutputHelper output) : IDisposable
{
    private readonly EvalCliData _data = new();
    private static readonly Reporter Quiet = new(json: true);    // status lines to stderr

    public void Dispose() => _data.Dispose();

    private LinprobeCommand.Settings Probe(string? floor = null, bool floors = false, string pool = "mean", bool noCache = false,
        string? data = null, string precision = "fp32", string? layer = null) => new()
    {
        Checkpoint = _data.RunDir, Data = data ?? _data.Spec, BatchSize = 16, Floor = floor, Floors = floors, Pool = pool, NoCache = noCache,
        Precision = precision, Layer = layer,
    };

    private KnnCommand.Settings Knn(string? floor = null, string? layer = null) => new()
    {
        Checkpoint = _data.RunDir, Data = _data.Spec, BatchSize = 16, Floor = floor, Layer = layer,
    };

    private static string[] Names(JsonElement e) => e.EnumerateObject().Select(p => p.Name).ToArray();

    [Fact]
    public void GivenARunFolder_WhenLinprobeRuns_ThenRunEvalLinprobeJsonHasTheDocumentedSchema()
    {
        var outcome = LinprobeCommand.Run(Probe(), Quiet);

        var path = Path.Combine(_data.EvalDir, "linprobe.json");
        Assert.Equal([path], outcome.Files);
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var root = doc.RootElement;
        output.WriteLine(root.ToString());
        Assert.Equal(
            ["kind", "schema_version", "model", "pooling", "layer", "feature_dim", "num_classes", "train_size", "test_size", "top1",
             "val_size", "chosen_reg", "val_curve", "iterations", "converged", "grad_norm", "source", "data", "seconds"],
            Names(root));
        Assert.Equal("linear_probe", root.GetProperty("kind").GetString());
        Assert.Equal("tiny", root.GetProperty("model").GetString());
        Assert.Equal("mean", root.GetProperty("pooling").GetString());
        Assert.Equal(16, root.GetProperty("feature_dim").GetInt32());
        Assert.Equal(3, root.GetProperty("num_classes").GetInt32());
        Assert.Equal(60, root.GetProperty("train_size").GetInt64());
        Assert.Equal(30, root.GetProperty("test_size").GetInt64());
        Assert.Equal(_data.Checkpoint, root.GetProperty("source").GetString());
        Assert.Equal($"mnist:{_data.DataDir}:train → mnist:{_data.DataDir}:test", root.GetProperty("data").GetString());
        Assert.Equal(6, root.GetProperty("val_curve").GetArrayLength());
        Assert.InRange(root.GetProperty("top1").GetDouble(), 0.0, 1.0);
    }

    [Fact]
    public void GivenFloors_WhenLinprobeRuns_ThenEncoderRandomInitAndPixelsAreWrittenSideBySide()
    {
        var outcome = LinprobeCommand.Run(Probe(floors: true), Quiet);

        Assert.Equal([null, "random", "pixels"], outcome.Variants.Select(v => v.Floor));
        Assert.Equal(["tiny", "tiny (random init, seed 0)", "pixels"], outcome.Variants.Select(v => v.Result.Model));
        Assert.Equal([16, 16, 64], outcome.Variants.Select(v => v.Result.FeatureDim));
        Assert.Null(outcome.Variants[2].Result.Pooling);
        Assert.Null(outcome.Variants[1].Result.Source);
        Assert.Equal(["linprobe.json", "linprobe-random.json", "linprobe-pixels.json"], outcome.Files.Select(Path.GetFileName));
        // Three separable classes: raw pixels are linearly separable.
        Assert.Equal(1.0, outcome.Variants[2].Result.Top1);
        using var doc = JsonDocument.Parse(outcome.ToJson());
        Assert.Equal(["encoder", "random", "pixels"], Names(doc.RootElement));
        Assert.Equal("linear_probe", doc.RootElement.GetProperty("pixels").GetProperty("kind").GetString());
    }

    [Fact]
    public void GivenOut_WhenKnnRuns_ThenTheJsonGoesThereWithKAndTemperatureDefaults()
    {
        var path = Path.Combine(_data.Root, "results", "knn.json");
        var outcome = KnnCommand.Run(new KnnCommand.Settings { Checkpoint = _data.Checkpoint, Data = _data.Spec, BatchSize = 16, Output = path }, Quiet);

        Assert.Equal([path], outcome.Files);
        Assert.False(File.Exists(Path.Combine(_data.EvalDir, "knn.json")));
        var result = Assert.IsType<KnnResult>(EvaluationResult.FromJson(File.ReadAllText(path)));
        Assert.Equal(20, result.K);
        Assert.Equal(0.07, result.Temperature);
        Assert.Null(result.Top5);                       // three classes < 5
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        Assert.Equal(
            ["kind", "schema_version", "model", "pooling", "layer", "feature_dim", "num_classes", "train_size", "test_size", "top1",
             "top5", "k", "temperature", "val_size", "val_top1", "source", "data", "seconds"],
            Names(doc.RootElement));
    }

    [Fact]
    public void GivenLinprobeRanOnce_WhenKnnAndASecondProbeRun_ThenNoFeaturesAreExtractedAgain()
    {
        var first = LinprobeCommand.Run(Probe(), Quiet);
        var knn = KnnCommand.Run(Knn(), Quiet);
        var cls = LinprobeCommand.Run(Probe(pool: "cls"), Quiet);
        var grid = LinprobeCommand.Run(Probe(pool: "grid"), Quiet);

        Assert.Equal(2, first.Extractions);                                  // train and test
        Assert.Equal(0, knn.Extractions);
        Assert.Equal(0, cls.Extractions);                                    // every pooling is cached from one pass
        Assert.Equal("cached", knn.Variants[0].Origin);
        Assert.Equal(Pooling.Cls, cls.Variants[0].Result.Pooling);
        Assert.Equal(0, grid.Extractions);
        Assert.Equal(Pooling.Grid, grid.Variants[0].Result.Pooling);
        Assert.Equal(4 * first.Variants[0].Result.FeatureDim, grid.Variants[0].Result.FeatureDim);
        Assert.Equal(2, Directory.GetFiles(Path.Combine(_data.EvalDir, "cache"), "*.safetensors").Length);
    }

    [Fact]
    public void GivenWhiten_WhenKnnRuns_ThenItVotesInTheWhitenedComponentsAndRecordsHowMany()
    {
        var plain = KnnCommand.Run(Knn(), Quiet);
        var settings = Knn();
        var whitened = KnnCommand.Run(new KnnCommand.Settings { Checkpoint = settings.Checkpoint, Data = settings.Data, BatchSize = 16, Whiten = "8" }, Quiet);

        var r = (KnnResult)whitened.Variants[0].Result;
        Assert.Equal(8, r.Whiten);
        Assert.Equal(8, r.FeatureDim);
        Assert.InRange(r.Top1, 0.0, 1.0);
        Assert.Null(((KnnResult)plain.Variants[0].Result).Whiten);
        Assert.False(JsonDocument.Parse(plain.Variants[0].Result.ToJson()).RootElement.TryGetProperty("whiten", out _));
        Assert.Equal(8, JsonDocument.Parse(r.ToJson()).RootElement.GetProperty("whiten").GetInt32());

        var tooMany = new KnnCommand.Settings { Checkpoint = settings.Checkpoint, Data = settings.Data, BatchSize = 16, Whiten = "17" };
        Assert.StartsWith("--whiten 17: expected 1 … 16", Assert.Throws<ArgumentException>(() => KnnCommand.Run(tooMany, Quiet)).Message);
        Assert.Equal("--whiten -1: expected a number of components ≥ 1 (0 = no whitening), or a comma list of them such as 0,64,128",
            Assert.Throws<ArgumentException>(() => KnnCommand.Settings.ParseWhiten("-1")).Message);
        Assert.Equal("--whiten 8,8: 8 is named twice", Assert.Throws<ArgumentException>(() => KnnCommand.Settings.ParseWhiten("8,8")).Message);
        Assert.Equal("--val-fraction 1: expected a number in [0, 1)",
            new KnnCommand.Settings { Checkpoint = settings.Checkpoint, ValFraction = 1 }.Validate().Message);
        var noSplit = new KnnCommand.Settings { Checkpoint = settings.Checkpoint, Data = settings.Data, BatchSize = 16, Whiten = "0,8", ValFraction = 0 };
        Assert.Equal("--whiten 0,8: choosing among several values needs a validation split (--val-fraction > 0)",
            Assert.Throws<ArgumentException>(() => KnnCommand.Run(noSplit, Quiet)).Message);
    }

    [Fact]
    public void GivenAWhitenList_WhenKnnRuns_ThenValidationChoosesAndTheCurveIsWritten()
    {
        var settings = Knn();
        var outcome = KnnCommand.Run(new KnnCommand.Settings { Checkpoint = settings.Checkpoint, Data = settings.Data, BatchSize = 16, Whiten = "0,4,8" }, Quiet);

        var r = (KnnResult)outcome.Variants[0].Result;
        Assert.Equal(6, r.ValSize);                                          // 10 % of 60, stratified over 3 classes
        Assert.Equal([0, 4, 8], r.WhitenCurve!.Select(p => p.Components));
        int chosen = r.Whiten ?? 0;
        Assert.Equal(r.WhitenCurve!.Where(p => p.ValTop1 == r.WhitenCurve!.Max(q => q.ValTop1)).Min(p => p.Components), chosen);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(_data.EvalDir, "knn.json")));
        Assert.Equal(3, doc.RootElement.GetProperty("whiten_curve").GetArrayLength());
        Assert.Equal(r.ValTop1, doc.RootElement.GetProperty("val_top1").GetDouble());
    }

    [Fact]
    public void GivenTwoBlocks_WhenReadTogether_ThenTheFeaturesAreEachBlocksSideBySideAndEachBlockIsCachedOnItsOwn()
    {
        _data.SaveCheckpoint(seed: 3, depth: 2);
        var block1 = LinprobeCommand.Run(Probe(layer: "1"), Quiet);
        var both = LinprobeCommand.Run(Probe(layer: "1,2"), Quiet);
        var knn = KnnCommand.Run(Knn(layer: "2, 1"), Quiet);

        Assert.Equal(2, block1.Extractions);                                 // block 1: train and test
        Assert.Equal(2, both.Extractions);                                   // only block 2 (the last) is new
        Assert.Equal(0, knn.Extractions);
        var r = both.Variants[0].Result;
        Assert.Equal(32, r.FeatureDim);
        Assert.Null(r.Layer);
        Assert.Equal([1, 2], r.Layers!);
        Assert.Equal([2, 1], knn.Variants[0].Result.Layers!);
        Assert.Equal([Path.Combine(_data.EvalDir, "linprobe-layer1+2.json")], both.Files);
        Assert.Equal([Path.Combine(_data.EvalDir, "knn-layer2+1.json")], knn.Files);
        using var doc = JsonDocument.Parse(File.ReadAllText(both.Files[0]));
        Assert.Equal([1, 2], doc.RootElement.GetProperty("layers").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(JsonValueKind.Null, doc.RootElement.GetProperty("layer").ValueKind);
        Assert.False(JsonDocument.Parse(File.ReadAllText(block1.Files[0])).RootElement.TryGetProperty("layers", out _));

        // The concatenation is block 1's features followed by the last block's (after the final norm), in --layer order.
        using var p1 = new FeatureProvider(Probe(layer: "1"), Quiet);
        using var pLast = new FeatureProvider(Probe(), Quiet);
        using var p21 = new FeatureProvider(Probe(layer: "2,1"), Quiet);
        var (f1, y1) = p1.Pooled(null, CrateMae.Data.DataSplit.Test, Pooling.Grid, out _);
        var (fLast, _) = pLast.Pooled(null, CrateMae.Data.DataSplit.Test, Pooling.Grid, out _);
        var (f21, y21) = p21.Pooled(null, CrateMae.Data.DataSplit.Test, Pooling.Grid, out var origin);
        Assert.Equal("cached", origin);
        Assert.Equal([30L, 128L], f21.shape);
        Assert.True(f21.eq(torch.cat([fLast, f1], 1)).all().item<bool>());
        Assert.True(y21.eq(y1).all().item<bool>());
    }

    [Theory]
    [InlineData("1,1", "--layer 1,1: block 1 is named twice")]
    [InlineData("1,x", "--layer 1,x: expected an encoder block number ≥ 1, or a comma list of them such as 3,6")]
    [InlineData("1,3", "--layer 1,3: tiny has 2 encoder blocks; expected 1 … 2")]
    public void GivenABadBlockList_WhenProbed_ThenOneLineNamesLayer(string layers, string message)
    {
        _data.SaveCheckpoint(seed: 3, depth: 2);
        var settings = Probe(layer: layers);
        var validation = settings.Validate();
        var error = validation.Successful ? Assert.Throws<ArgumentException>(() => LinprobeCommand.Run(settings, Quiet)).Message : validation.Message;
        Assert.Equal(message, error);
    }

    [Fact]
    public void GivenFp32FeaturesCached_WhenProbedWithBf16_ThenBf16FeaturesAreExtractedRecordedAndCachedBesideThem()
    {
        var fp32 = LinprobeCommand.Run(Probe(), Quiet);
        var bf16 = LinprobeCommand.Run(Probe(precision: "bf16"), Quiet);
        var bf16Again = LinprobeCommand.Run(Probe(precision: "bf16"), Quiet);
        var fp32Again = LinprobeCommand.Run(Probe(), Quiet);

        Assert.Equal(2, bf16.Extractions);                                   // not served from the float32 entries
        Assert.Equal(0, bf16Again.Extractions);
        Assert.Equal(0, fp32Again.Extractions);                              // ... which the bf16 ones did not evict
        Assert.Equal(4, Directory.GetFiles(Path.Combine(_data.EvalDir, "cache"), "*.safetensors").Length);
        Assert.Null(fp32.Variants[0].Result.FeaturePrecision);
        Assert.Equal("bf16", bf16.Variants[0].Result.FeaturePrecision);
        Assert.Equal([Path.Combine(_data.EvalDir, "linprobe-bf16.json")], bf16.Files);   // the float32 result stays
        Assert.Equal([Path.Combine(_data.EvalDir, "linprobe.json")], fp32Again.Files);
        using var doc = JsonDocument.Parse(File.ReadAllText(bf16.Files[0]));
        var names = Names(doc.RootElement);
        Assert.Equal("layer", names[Array.IndexOf(names, "feature_precision") - 1]);
        Assert.Equal("bf16", doc.RootElement.GetProperty("feature_precision").GetString());

        // ... and the bf16 features really come from bf16 products: close to the float32 ones, not equal to them
        using var fp32Provider = new FeatureProvider(Probe(), Quiet);
        using var bf16Provider = new FeatureProvider(Probe(precision: "bf16"), Quiet);
        using var f32 = fp32Provider.Encoder(null, CrateMae.Data.DataSplit.Test, out _);
        using var fb16 = bf16Provider.Encoder(null, CrateMae.Data.DataSplit.Test, out _);
        var (a, b) = (f32.Get(Pooling.Mean), fb16.Get(Pooling.Mean));
        double error = (b - a).abs().max().item<float>() / a.abs().max().item<float>();
        output.WriteLine($"bf16 vs fp32 features: max |Δ| / max |fp32| = {error:E2}");
        Assert.InRange(error, 1e-6, 3e-2);
    }

    [Fact]
    public void GivenTheCheckpointChanged_WhenProbedAgain_ThenFeaturesAreReExtractedAndTheStaleEntriesRemoved()
    {
        var before = LinprobeCommand.Run(Probe(), Quiet);
        var cacheDir = Path.Combine(_data.EvalDir, "cache");
        var oldFiles = Directory.GetFiles(cacheDir).Order().ToArray();

        _data.SaveCheckpoint(seed: 99);                                       // same path, new weights
        var after = LinprobeCommand.Run(Probe(), Quiet);
        var again = LinprobeCommand.Run(Probe(), Quiet);

        Assert.Equal(2, before.Extractions);
        Assert.Equal(2, after.Extractions);
        Assert.Equal(0, again.Extractions);
        var newFiles = Directory.GetFiles(cacheDir).Order().ToArray();
        Assert.Equal(2, newFiles.Length);
        Assert.Empty(newFiles.Intersect(oldFiles));
    }

    [Fact]
    public void GivenNoCache_WhenProbedTwice_ThenBothRunsExtractAndNothingIsCached()
    {
        var a = LinprobeCommand.Run(Probe(noCache: true), Quiet);
        var b = LinprobeCommand.Run(Probe(noCache: true), Quiet);

        Assert.Equal(2, a.Extractions);
        Assert.Equal(2, b.Extractions);
        Assert.False(Directory.Exists(Path.Combine(_data.EvalDir, "cache")));
        Assert.Equal(a.Variants[0].Result.Top1, b.Variants[0].Result.Top1);
    }

    [Fact]
    public void GivenACorruptCacheFile_WhenProbed_ThenItIsReplacedByAFreshExtraction()
    {
        LinprobeCommand.Run(Probe(), Quiet);
        var cacheDir = Path.Combine(_data.EvalDir, "cache");
        foreach (var f in Directory.GetFiles(cacheDir)) File.WriteAllBytes(f, [1, 2, 3]);

        var outcome = LinprobeCommand.Run(Probe(), Quiet);

        Assert.Equal(2, outcome.Extractions);
        Assert.All(Directory.GetFiles(cacheDir), f => Assert.True(new FileInfo(f).Length > 100));
    }

    [Fact]
    public void GivenADataSpecNamingOneSplit_WhenLinprobeRuns_ThenTheErrorNamesData()
    {
        var e = Assert.Throws<ArgumentException>(() => LinprobeCommand.Run(Probe(data: _data.Spec + ":test"), Quiet));
        Assert.Contains("--data", e.Message);
    }

    [Fact]
    public void GivenAnUnknownFloorOrBothFloorOptions_WhenRun_ThenTheErrorNamesTheOption()
    {
        Assert.Contains("--floor", Assert.Throws<ArgumentException>(() => LinprobeCommand.Run(Probe(floor: "noise"), Quiet)).Message);
        Assert.Contains("--floors", Assert.Throws<ArgumentException>(() => LinprobeCommand.Run(Probe(floor: "pixels", floors: true), Quiet)).Message);
    }

    [Fact]
    public void GivenOnlyAPixelFloorAndNoCheckpoint_WhenKnnRuns_ThenItUsesTheNativeImagesAndOnlyPrints()
    {
        var outcome = KnnCommand.Run(new KnnCommand.Settings { Data = _data.Spec, Floor = "pixels", K = 5 }, Quiet);

        var r = Assert.IsType<KnnResult>(Assert.Single(outcome.Variants).Result);
        Assert.Equal(64, r.FeatureDim);                                      // 1 × 8 × 8, no resize
        Assert.Equal((60L, 30L, 5), (r.TrainSize, r.TestSize, r.K));
        Assert.Equal("pixels", r.Model);
        Assert.Empty(outcome.Files);
    }

    [Fact]
    public void GivenARegularisationList_WhenProbed_ThenOnlyThoseValuesAreTriedAndABadValueIsNamed()
    {
        var s = new LinprobeCommand.Settings { Checkpoint = _data.RunDir, Data = _data.Spec, BatchSize = 16, Reg = "1e-3, 1e-2" };
        var result = Assert.IsType<LinearProbeResult>(Assert.Single(LinprobeCommand.Run(s, Quiet).Variants).Result);
        Assert.Equal([1e-3, 1e-2], result.ValCurve.Select(p => p.Reg));

        var bad = new LinprobeCommand.Settings { Checkpoint = _data.RunDir, Data = _data.Spec, Reg = "1e-3,-1" };
        Assert.Contains("--reg", Assert.Throws<ArgumentException>(() => LinprobeCommand.Run(bad, Quiet)).Message);
        var frac = new LinprobeCommand.Settings { Checkpoint = _data.RunDir, Data = _data.Spec, ValFraction = 1.5 };
        Assert.Contains("--val-fraction", Assert.Throws<ArgumentException>(() => LinprobeCommand.Run(frac, Quiet)).Message);
        var iters = new LinprobeCommand.Settings { Checkpoint = _data.RunDir, Data = _data.Spec, MaxIter = 0 };
        Assert.Contains("--max-iter", Assert.Throws<ArgumentException>(() => LinprobeCommand.Run(iters, Quiet)).Message);
    }

    [Fact]
    public void GivenKLargerThanTheTrainingSet_WhenKnnRuns_ThenTheErrorNamesK()
    {
        var s = new KnnCommand.Settings { Checkpoint = _data.RunDir, Data = _data.Spec, K = 61 };
        Assert.Contains("-k 61", Assert.Throws<ArgumentException>(() => KnnCommand.Run(s, Quiet)).Message);
    }

    [Fact]
    public void GivenTheSameSeed_WhenTheRandomFloorIsCreatedTwice_ThenTheWeightsAreIdentical()
    {
        // TorchSharp 0.107's nn.init.* ignore their generator argument; the floor seeds the global RNG to stay reproducible.
        using var a = FeatureProvider.CreateRandom(TinyModels.Config(), seed: 4, device: "cpu");
        torch.rand(10).Dispose();                                            // disturb the global RNG in between
        using var b = FeatureProvider.CreateRandom(TinyModels.Config(), seed: 4, device: "cpu");

        var sb = b.state_dict();
        foreach (var (key, value) in a.state_dict())
            Assert.True(value.eq(sb[key]).all().item<bool>(), key);
    }
}
