using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using CrateMae.Analysis;
using CrateMae.Cli.Commands;
using CrateMae.Data;
using CrateMae.Evaluation;
using CrateMae.Models;
using CrateMae.Training;
using Xunit.Abstractions;
using CliProgram = CrateMae.Tests.Reliability.Cli;
using static TorchSharp.torch;

namespace CrateMae.Tests.Evaluation;

/// <summary>finetune, embed and compare, run in-process on tiny data.</summary>
[Collection(EvaluationTestCollection.Name)]
public sealed class FinetuneEmbedCompareTests(ITestOutputHelper output) : IDisposable
{
    private readonly EvalCliData _data = new();
    private static readonly Reporter Quiet = new(json: true);

    public void Dispose() => _data.Dispose();

    private static string[] Names(JsonElement e) => e.EnumerateObject().Select(p => p.Name).ToArray();

    [Fact]
    public void GivenATinyCheckpoint_WhenFineTunedForThreeEpochs_ThenTestLossFallsAndTheOutputFolderIsComplete()
    {
        var s = new FinetuneCommand.Settings
        {
            Checkpoint = _data.RunDir, Data = _data.Spec, Epochs = 3, BatchSize = 12, Lr = 1e-2, WarmupEpochs = 0.5,
        };

        var result = FinetuneCommand.Run(s, Quiet);

        foreach (var e in result.History) output.WriteLine($"{e.Epoch}: train {e.TrainLoss:F4} test {e.TestLoss:F4} top-1 {e.TestTop1:P1}");
        var dir = Path.Combine(_data.EvalDir, "finetune");
        Assert.Equal(3, result.History.Count);
        // Ten MNIST-layout class names, three used: a head with logits ≈ 0 has test loss ln 10 ≈ 2.30.
        Assert.True(result.History[^1].TestLoss < 0.6 * Math.Log(10), $"test loss {result.History[^1].TestLoss:F4}");
        Assert.True(result.History[^1].TestLoss < result.History[0].TestLoss, "test loss did not fall from epoch 1 to 3");
        Assert.True(result.BestTop1 >= 0.6, $"best top-1 {result.BestTop1} (chance: 1/3)");
        Assert.False(result.Interrupted);

        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "finetune.json")));
        var root = doc.RootElement;
        Assert.Equal(
            ["kind", "schema_version", "model", "pooling", "layer", "feature_dim", "num_classes", "train_size", "test_size", "top1",
             "head_start", "probe_reg", "start_top1", "best_top1", "best_epoch", "val_fraction", "val_images", "start_val_top1", "best_val_top1",
             "best_val_epoch", "test_loss", "epochs", "epochs_planned", "interrupted", "batch_size", "blr", "lr",
             "warmup_epochs", "layer_decay", "weight_decay", "label_smoothing", "mixup_alpha", "min_crop_scale", "flip_probability", "precision",
             "per_class", "history", "checkpoint", "best_checkpoint", "confusion_png", "source", "data", "seconds"],
            Names(root));
        Assert.Equal("fine_tune", root.GetProperty("kind").GetString());
        Assert.Equal("probe", root.GetProperty("head_start").GetString());
        Assert.Equal(["class", "name", "support", "correct", "top1"], Names(root.GetProperty("per_class")[0]));
        Assert.Equal(["epoch", "train_loss", "test_loss", "test_top1", "lr", "seconds", "val_loss", "val_top1"], Names(root.GetProperty("history")[0]));
        // No validation split: nothing held out, nothing scored, and the test split chooses the best classifier.
        Assert.Equal(0, root.GetProperty("val_fraction").GetDouble());
        Assert.Equal(0, root.GetProperty("val_images").GetInt64());
        foreach (var field in new[] { "start_val_top1", "best_val_top1", "best_val_epoch" })
            Assert.Equal(JsonValueKind.Null, root.GetProperty(field).ValueKind);
        Assert.All(root.GetProperty("history").EnumerateArray(), e =>
        {
            Assert.Equal(JsonValueKind.Null, e.GetProperty("val_loss").ValueKind);
            Assert.Equal(JsonValueKind.Null, e.GetProperty("val_top1").ValueKind);
        });
        Assert.All(File.ReadAllLines(Path.Combine(dir, "metrics.jsonl")), line =>
            Assert.Equal(JsonValueKind.Null, JsonDocument.Parse(line).RootElement.GetProperty("val_top1").ValueKind));
        Assert.Equal(10, root.GetProperty("per_class").GetArrayLength());  // MNIST layout: ten class names, three used
        Assert.Equal(30, result.PerClass.Sum(c => c.Support));
        Assert.Equal(60, result.TrainSize);                                 // 5 full batches of 12
        Assert.Equal(3, File.ReadAllLines(Path.Combine(dir, "metrics.jsonl")).Length);
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], File.ReadAllBytes(Path.Combine(dir, "confusion.png"))[..4]);
        Assert.Empty(Directory.GetFiles(dir, "*.tmp"));

        // The final classifier checkpoint reproduces the reported accuracy.
        using var loaded = ClassifierCheckpoint.Load(result.Checkpoint!);
        Assert.Equal(10, loaded.ClassNames.Count);
        Assert.NotNull(loaded.Normalization);
        using var test = new CrateMae.Training.LoaderBatchSource(CrateMae.Data.DataSetup.Loader(
            new CrateMae.Data.DataRequest { Spec = _data.Spec, Normalization = loaded.Normalization, BatchSize = 16 },
            CrateMae.Data.DataSetup.Open(new CrateMae.Data.DataRequest { Spec = _data.Spec }, CrateMae.Data.DataSplit.Test),
            loaded.Model.Encoder.Config, train: false));
        var tuner = new FineTuner(new FineTuneOptions { Head = HeadStart.Random }, test, test, Enumerable.Range(0, 10).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToArray(), dir);
        var (_, top1, _, _) = tuner.Evaluate(loaded.Model);
        Assert.Equal(result.Top1, top1);
        Assert.True(File.Exists(result.BestCheckpoint));
        using var best = ClassifierCheckpoint.Load(result.BestCheckpoint!);
        Assert.Equal(result.BestEpoch.ToString(CultureInfo.InvariantCulture), best.Metadata["epoch"]);
    }

    [Fact]
    public void GivenAQuarterHeldOut_WhenFineTuned_ThenItTrainsOnTheRestAndTheValidationSplitChoosesTheBestClassifier()
    {
        using var data = new EvalCliData(trainCount: 240);                 // 80 images a class
        var dir = Path.Combine(data.Root, "ft-val");

        var r = CliProgram.Run("finetune", "--checkpoint", data.RunDir, "--data", data.Spec, "--epochs", "3", "--batch-size", "12", "--lr", "1e-2",
            "--warmup-epochs", "0.5", "--val-fraction", "0.25", "--seed", "1", "--output", dir);

        output.WriteLine(r.ToString());
        Assert.True(r.ExitCode == 0, r.ToString());
        var result = (FineTuneResult)EvaluationResult.FromJson(File.ReadAllText(Path.Combine(dir, "finetune.json")));
        // 20 images a class held out; the other 180 (15 batches of 12) are all the training loop and the probe saw.
        Assert.Equal(0.25, result.ValFraction);
        Assert.Equal(60, result.ValImages);
        Assert.Equal(180, result.TrainSize);
        var printed = Regex.Replace(r.Stdout, @"\s+", " ");
        Assert.Contains("head: linear probe on 180 × 16 frozen features", printed);
        Assert.Contains("(180 images of 240, 60 held out for validation, test 30)", printed);

        Assert.Equal(3, result.History.Count);
        Assert.All(result.History, e => Assert.True(e.ValLoss > 0));
        var val = result.History.Select(e => e.ValTop1!.Value).ToArray();
        Assert.Equal(Array.IndexOf(val, val.Max()) + 1, result.BestValEpoch);
        Assert.Equal(val.Max(), result.BestValTop1);
        Assert.NotNull(result.StartValTop1);
        var metrics = File.ReadAllLines(Path.Combine(dir, "metrics.jsonl")).Select(l => JsonDocument.Parse(l).RootElement).ToArray();
        Assert.Equal(val, metrics.Select(m => m.GetProperty("val_top1").GetDouble()));
        Assert.Equal(result.History.Select(e => e.ValLoss!.Value), metrics.Select(m => m.GetProperty("val_loss").GetDouble()));

        // The best classifier is the best validation epoch's, and scores best_val_top1 on the same held-out images.
        using var best = ClassifierCheckpoint.Load(result.BestCheckpoint!);
        Assert.Equal(result.BestValEpoch!.Value.ToString(CultureInfo.InvariantCulture), best.Metadata["epoch"]);
        var trainSet = DataSetup.Open(new DataRequest { Spec = data.Spec }, DataSplit.Train);
        var (_, held) = FineTuner.HoldOut(trainSet, 240, 0.25, seed: 1);
        using var heldOut = new LoaderBatchSource(DataSetup.Loader(
            new DataRequest { Spec = data.Spec, Normalization = best.Normalization, BatchSize = 16 }, held, best.Model.Encoder.Config, train: false));
        var scorer = new FineTuner(new FineTuneOptions { Head = HeadStart.Random }, heldOut, heldOut, best.ClassNames, dir);
        Assert.Equal(result.BestValTop1!.Value, scorer.Evaluate(best.Model).Top1, 12);

        // The table gains the two validation columns (9 column borders on every row), the last line the chosen epoch.
        var table = r.Stdout[r.Stdout.IndexOf("Fine-tuning", StringComparison.Ordinal)..r.Stdout.IndexOf("Per-class", StringComparison.Ordinal)];
        var rows = table.Split('\n').Where(l => l.Contains('│') || l.Contains('|')).ToArray();
        Assert.NotEmpty(rows);
        Assert.All(rows, row => Assert.Equal(9, row.Count(ch => ch is '│' or '|')));
        Assert.Contains($"best validation top-1 {result.BestValTop1 * 100:F2} % at epoch {result.BestValEpoch} on 60 held-out images (classifier-best)", printed);
    }

    [Theory]
    [InlineData("1")]
    [InlineData("-0.1")]
    [InlineData("abc")]
    [InlineData("0.01")]     // 60 images, 20 a class: nothing to hold out
    public void GivenABadValidationFraction_WhenFineTuning_ThenOneLineNamesTheOption(string fraction)
    {
        var r = CliProgram.Run("finetune", "--checkpoint", _data.RunDir, "--data", _data.Spec, "--val-fraction", fraction, "--output", Path.Combine(_data.Root, "never"));

        CliProgram.AssertOneLineError(r, 2, "--val-fraction");
        Assert.False(File.Exists(Path.Combine(_data.Root, "never", "finetune.json")));
    }

    [Fact]
    public void GivenAProbeHead_WhenFineTuningStarts_ThenItStartsAtTheLinearProbesTestAccuracyWhereARandomHeadStartsAtChance()
    {
        var probe = LinprobeCommand.Run(new LinprobeCommand.Settings { Checkpoint = _data.RunDir, Data = _data.Spec, BatchSize = 16 }, Quiet);
        double probeTop1 = probe.Variants.Single().Result.Top1;

        var lpft = FinetuneCommand.Run(new FinetuneCommand.Settings
        {
            Checkpoint = _data.RunDir, Data = _data.Spec, Epochs = 1, BatchSize = 12, MaxSteps = 1, Output = Path.Combine(_data.Root, "lpft"),
        }, Quiet);
        var random = FinetuneCommand.Run(new FinetuneCommand.Settings
        {
            Checkpoint = _data.RunDir, Data = _data.Spec, Epochs = 1, BatchSize = 12, MaxSteps = 1, Head = "random", Output = Path.Combine(_data.Root, "ft"),
        }, Quiet);

        output.WriteLine($"linprobe {probeTop1:P2}; fine-tune start: probe head {lpft.StartTop1:P2} (λ {lpft.ProbeReg}), random head {random.StartTop1:P2}");
        // Same frozen features (train split, mean pooling, same seed for the validation split), so the same classifier up
        // to the solver's tolerance: at most one of the 30 test images may fall on the other side of a boundary.
        Assert.Equal("probe", lpft.HeadStart);
        Assert.InRange(lpft.StartTop1!.Value, probeTop1 - 1.0 / 30 - 1e-9, probeTop1 + 1.0 / 30 + 1e-9);
        Assert.True(probeTop1 >= 0.6, $"probe top-1 {probeTop1} (chance 1/3): the tiny classes are separable");
        Assert.Equal("random", random.HeadStart);
        Assert.Null(random.ProbeReg);
        Assert.True(random.StartTop1 < probeTop1, $"random head {random.StartTop1} vs probe {probeTop1}");
        Assert.Throws<ArgumentException>(() => new FinetuneCommand.Settings { Head = "linear" }.Options());
        Assert.Contains("--flip", Assert.Throws<ArgumentException>(() => new FinetuneCommand.Settings { Flip = 1.5 }.Options()).Message);
    }

    [Fact]
    public void GivenMixupAndTheRandomFloor_WhenFineTunedForTwoSteps_ThenItStopsEarlyAndSaysSo()
    {
        var s = new FinetuneCommand.Settings
        {
            Checkpoint = _data.Checkpoint, Data = _data.Spec, Epochs = 2, BatchSize = 12, Mixup = 0.8, Floor = "random", MaxSteps = 2,
        };

        var result = FinetuneCommand.Run(s, Quiet);

        Assert.True(result.Interrupted);
        Assert.Equal(1, result.Epochs);
        Assert.Equal(0.8, result.MixupAlpha);
        Assert.Null(result.Source);
        Assert.Equal("tiny (random init, seed 0)", result.Model);
        Assert.True(File.Exists(Path.Combine(_data.EvalDir, "finetune-random", "finetune.json")));
    }

    [Fact]
    public void GivenAnOddBatchWithMixup_WhenFineTuning_ThenTheErrorNamesBatchSize()
    {
        var s = new FinetuneCommand.Settings { Checkpoint = _data.RunDir, Data = _data.Spec, BatchSize = 11, Mixup = 0.8 };
        Assert.Contains("--batch-size", Assert.Throws<ArgumentException>(() => FinetuneCommand.Run(s, Quiet)).Message);
    }

    [NumpyFact]
    public void GivenATinyCheckpoint_WhenEmbedding_ThenNumpyReadsTheFeaturesAndLabelsTheLibraryReturns()
    {
        var path = Path.Combine(_data.Root, "out", "test.npy");
        var outcome = EmbedCommand.Run(new EmbedCommand.Settings
        {
            Checkpoint = _data.RunDir, Data = _data.Spec, Output = path, Split = "test", BatchSize = 7,
        }, Quiet);

        Assert.Equal(Path.Combine(_data.Root, "out", "test.labels.npy"), outcome.Labels);
        Assert.Equal((30L, 16L), (outcome.Count, outcome.Dim));
        var (features, labels) = Embeddings.Extract(_data.RunDir, _data.Spec, Pooling.Mean, CrateMae.Data.DataSplit.Test);
        var script = "import numpy as np, sys; x = np.load(sys.argv[1]); y = np.load(sys.argv[2]); " +
                     "print(x.dtype, x.shape, y.dtype, y.shape); print(repr(float(x.astype(np.float64).sum()))); print(','.join(map(str, y[:6])))";
        // The file was embedded in batches of 7 and the library's features in its default batches: other GEMM blockings,
        // so each feature may differ by float32 rounding (a few ulp, ≤ 1e-6 relative). The sums then agree within
        // 1e-6 · Σ|x|; an absolute bound would be meaningless for features that sum to nearly zero.
        using var p = Process.Start(new ProcessStartInfo(NumpyFactAttribute.Python, ["-c", script, path, outcome.Labels!])
        {
            RedirectStandardOutput = true, RedirectStandardError = true,
        })!;
        var stdout = p.StandardOutput.ReadToEnd();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        output.WriteLine(stdout + stderr);
        Assert.Equal(0, p.ExitCode);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("float32 (30, 16) int64 (30,)", lines[0]);
        var expected = features.to(ScalarType.Float64);
        double sum = expected.sum().item<double>(), bound = 1e-6 * expected.abs().sum().item<double>();
        Assert.InRange(double.Parse(lines[1], CultureInfo.InvariantCulture), sum - bound, sum + bound);
        Assert.Equal("0,1,2,0,1,2", lines[2]);
        Assert.Equal([0L, 1, 2, 0, 1, 2], labels[..6].data<long>().ToArray());
    }

    [Fact]
    public void GivenEmbedOnTheTrainSplitTwice_WhenRun_ThenTheSecondUsesTheCache()
    {
        EmbedCommand.Settings Settings(string pool) =>
            new() { Checkpoint = _data.RunDir, Data = _data.Spec, Output = Path.Combine(_data.Root, "train.npy"), Pool = pool };
        var first = EmbedCommand.Run(Settings("mean"), Quiet);
        var second = EmbedCommand.Run(Settings("cls"), Quiet);

        Assert.Equal("extracted", first.Origin);
        Assert.Equal("cached", second.Origin);
        Assert.Equal(60, second.Count);
    }

    [Fact]
    public void GivenHandWrittenRunFolders_WhenCompared_ThenTheTableHasEveryColumnAndDashesForMissingResults()
    {
        var crate = WriteRun("crate-fmnist", Presets.Get("crate-fmnist"), epochs: 2, wall: 1500, loss: 0.31);
        var vit = WriteRun("vit-fmnist", Presets.Get("vit-fmnist"), epochs: 2, wall: 2400, loss: 0.29);
        var eval = Path.Combine(crate, "eval");
        Probe(0.875, "crate-fmnist").Save(Path.Combine(eval, "linprobe.json"));
        Probe(0.65, "crate-fmnist (random init, seed 0)").Save(Path.Combine(eval, "linprobe-random.json"));
        Probe(0.84, "pixels") .Save(Path.Combine(eval, "linprobe-pixels.json"));
        KnnOf(0.85).Save(Path.Combine(eval, "knn.json"));
        FineTuneOf(0.91, 0.905).Save(Path.Combine(eval, "finetune", "finetune.json"));
        WriteAnalysis(crate);
        var md = Path.Combine(_data.Root, "cmp", "comparison.md");

        var (comparison, files) = CompareCommand.Run(new CompareCommand.Settings { Runs = [crate, vit], Output = md });

        var markdown = File.ReadAllText(md);
        output.WriteLine(markdown);
        Assert.Equal([md, Path.ChangeExtension(md, ".json")], files);
        var c = ParameterCount.Of(Presets.Get("crate-fmnist"));
        var v = ParameterCount.Of(Presets.Get("vit-fmnist"));
        Assert.Contains($"| crate-fmnist | crate-fmnist | {c.Total:N0} / {c.EncoderTrainable:N0} | {100.0 * c.Total / v.Total:F0} % | 2 | 0:25:00 | 0.3100 | 87.50 % (mean) | 85.00 % | 91.00 % (90.50 %, 4 ep) |", markdown);
        Assert.Contains($"| vit-fmnist | vit-fmnist | {v.Total:N0} / {v.EncoderTrainable:N0} | 100 % | 2 | 0:40:00 | 0.2900 | - | - | - |", markdown);
        Assert.Contains("| crate-fmnist: random-init crate-fmnist | 65.00 % | - | - |", markdown);
        Assert.Contains("| raw pixels | 84.00 % | - | - |", markdown);
        Assert.Contains("| run | Rᶜ | ℓ⁰ density | foreground ratio |", markdown);
        Assert.Contains("| crate-fmnist | 101.2 / 184.0 | 0.310 / 0.520 | 1.21 / 0.92 |", markdown);
        Assert.Contains("| vit-fmnist | - / - | - / - | - / - |", markdown);

        using var doc = JsonDocument.Parse(File.ReadAllText(Path.ChangeExtension(md, ".json")));
        var runs = doc.RootElement.GetProperty("runs");
        Assert.Equal(1, doc.RootElement.GetProperty("schema_version").GetInt32());
        Assert.Equal(0.875, runs[0].GetProperty("linear_probe").GetDouble());
        Assert.Equal(JsonValueKind.Null, runs[1].GetProperty("linear_probe").ValueKind);
        Assert.Equal(v.Total, runs[1].GetProperty("params_total").GetInt64());
        Assert.Equal(0.84, doc.RootElement.GetProperty("pixels").GetProperty("linear_probe").GetDouble());
        Assert.Equal(2, comparison.Runs.Count);
        Assert.Equal(
            ["run", "model", "blocks", "params_total", "params_encoder", "params_fraction_of_largest", "pretrain_epochs", "pretrain_wall_seconds",
             "test_masked_loss", "linear_probe", "linear_probe_pooling", "knn", "fine_tune_best", "fine_tune_last", "fine_tune_epochs",
             "linear_probe_random_init", "knn_random_init", "fine_tune_random_init_best", "coding_rate_last", "coding_rate_last_random_init",
             "l0_density_last", "l0_density_last_random_init", "foreground_ratio_last", "foreground_ratio_last_random_init"],
            Names(runs[0]));
        Assert.Equal(101.2, runs[0].GetProperty("coding_rate_last").GetDouble());
        Assert.Equal(0.92, runs[0].GetProperty("foreground_ratio_last_random_init").GetDouble());
        Assert.Equal(JsonValueKind.Null, runs[1].GetProperty("l0_density_last").ValueKind);
    }

    [Fact]
    public void GivenAFineTuneWithAValidationSplit_WhenCompared_ThenItShowsTheTestAccuracyOfTheEpochValidationChose()
    {
        var run = WriteRun("crate-val", Presets.Get("crate-fmnist"), epochs: 2, wall: 1500, loss: 0.31);
        // Test top-1 peaks at epoch 3 (0.91); validation chose epoch 2, whose test top-1 (0.88) is what compare reports.
        (FineTuneOf(0.91, 0.90) with
        {
            ValFraction = 0.1, ValImages = 6000, BestValEpoch = 2, BestValTop1 = 0.93,
            History = [new(1, 0.9, 0.5, 0.85, 1e-3, 10, 0.45, 0.86), new(2, 0.5, 0.4, 0.88, 8e-4, 10, 0.35, 0.93),
                       new(3, 0.4, 0.38, 0.91, 4e-4, 10, 0.36, 0.92), new(4, 0.3, 0.39, 0.90, 0, 10, 0.37, 0.91)],
        }).Save(Path.Combine(run, "eval", "finetune", "finetune.json"));
        var md = Path.Combine(_data.Root, "cmp-val", "comparison.md");

        var (comparison, _) = CompareCommand.Run(new CompareCommand.Settings { Runs = [run], Output = md });

        Assert.Equal(0.88, comparison.Runs[0].FineTuneBest);
        Assert.Equal(0.90, comparison.Runs[0].FineTuneLast);
        Assert.Contains("| 88.00 % (90.00 %, 4 ep) |", File.ReadAllText(md));
    }

    /// <summary>RUN/analysis/analysis.json of a 2-layer model and its random init (layer 1 without a foreground ratio).</summary>
    private static void WriteAnalysis(string run)
    {
        static WhiteBoxReport Report(string name, double rc, double density, double fg) => new(name, 8, "crate", 0.01,
            [new LayerStatistics(1, 2 * rc, 1, 0.9, 0.01, 0.1), new LayerStatistics(2, rc, 1, density, 0.01, 1 - density, fg, 0.1)]);
        new AnalysisFile(AnalysisFile.CurrentSchema, "fashion-mnist:test", 8, "unmasked",
        [
            new AnalysisSeries("crate-fmnist (trained)", Path.Combine(run, "final.ckpt"), Report("crate-fmnist (trained)", 101.2, 0.31, 1.21)),
            new AnalysisSeries("random init (seed 0)", AnalysisSeries.RandomInitSourcePrefix + "crate-fmnist, seed 0", Report("random init (seed 0)", 184, 0.52, 0.92)),
        ]).Save(Path.Combine(run, "analysis", AnalysisFile.FileName));
    }

    [Fact]
    public void GivenAFolderThatIsNotARun_WhenCompared_ThenTheErrorNamesIt()
    {
        var empty = Directory.CreateDirectory(Path.Combine(_data.Root, "empty")).FullName;
        var e = Assert.Throws<ArgumentException>(() => CompareCommand.Run(new CompareCommand.Settings { Runs = [empty] }));
        Assert.Contains(empty, e.Message);
    }

    private string WriteRun(string name, MaeConfig config, int epochs, double wall, double loss)
    {
        var dir = Directory.CreateDirectory(Path.Combine(_data.Root, "runs", name)).FullName;
        File.WriteAllText(Path.Combine(dir, "config.json"), $"{{\"model\": {config.ToJson()}, \"data\": \"fashion-mnist:train\"}}");
        File.WriteAllText(Path.Combine(dir, "summary.json"), JsonSerializer.Serialize(new
        {
            output_dir = dir, epochs_completed = epochs, steps = 936, last_test_loss = loss, wall_seconds = wall, interrupted = false,
        }));
        return dir;
    }

    private static LinearProbeResult Probe(double top1, string model) => new()
    {
        Model = model, Pooling = model == "pixels" ? null : Pooling.Mean, FeatureDim = 192, NumClasses = 10, TrainSize = 60000,
        TestSize = 10000, Top1 = top1, Seconds = 1, ValSize = 6000, ChosenReg = 1e-4, ValCurve = [], Iterations = 10, Converged = true, GradNorm = 1e-7,
    };

    private static KnnResult KnnOf(double top1) => new()
    {
        Model = "crate-fmnist", Pooling = Pooling.Mean, FeatureDim = 192, NumClasses = 10, TrainSize = 60000, TestSize = 10000,
        Top1 = top1, Top5 = 0.99, K = 20, Temperature = 0.07, Seconds = 1,
    };

    private static FineTuneResult FineTuneOf(double best, double last) => new()
    {
        Model = "crate-fmnist", Pooling = Pooling.Mean, FeatureDim = 192, NumClasses = 10, TrainSize = 60000, TestSize = 10000,
        Top1 = last, BestTop1 = best, BestEpoch = 3, TestLoss = 0.3, Epochs = 4, EpochsPlanned = 4, Interrupted = false, BatchSize = 128,
        Blr = 1e-3, Lr = 5e-4, WarmupEpochs = 0.4, LayerDecay = 0.75, WeightDecay = 0.05, LabelSmoothing = 0.1, MixupAlpha = 0,
        MinCropScale = 0.6, Precision = "fp32", PerClass = [], History = [], Checkpoint = null, BestCheckpoint = null, ConfusionPng = null,
        HeadStart = "probe", StartTop1 = 0.7, Seconds = 100,
    };
}
