using System.Text.Json.Nodes;
using CrateMae.Data;
using CrateMae.IO;
using CrateMae.Models;
using CrateMae.Training;
using CrateMae.Tests.Support;
using static TorchSharp.torch;

namespace CrateMae.Tests.Training;

/// <summary>Pre-training on real Fashion-MNIST with a tiny config: learning, exact resume, schedule, decay groups, checkpoints.</summary>
// Runs alone: the resume tests compare losses bit for bit, and model construction draws from the process-wide
// libtorch generator, which tests running in parallel would also draw from.
[Collection(nameof(CrateMae.Tests.Models.GlobalRngCollection))]
public sealed class TrainingTests : IDisposable
{
    private static readonly MaeConfig Tiny = new()
    {
        Name = "tiny-fmnist", ImgSize = 28, PatchSize = 7, InChans = 1, EmbedDim = 32, Depth = 1, NumHeads = 2,
        DecoderEmbedDim = 32, DecoderDepth = 1, DecoderNumHeads = 2,
    };

    private readonly string _dir = Directory.CreateTempSubdirectory("cratemae-train-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private static (LoaderBatchSource Train, LoaderBatchSource Test, RunArtifacts Artifacts) RealData(int images, int batch = 32)
    {
        var request = new DataRequest { BatchSize = batch, Limit = images, Seed = 3 };
        var trainSet = DataSetup.Open(request, DataSplit.Train);
        var testSet = DataSetup.Open(request, DataSplit.Test);
        var train = new LoaderBatchSource(DataSetup.Loader(request, trainSet, Tiny, train: true, dropLast: true));
        var test = new LoaderBatchSource(DataSetup.Loader(request with { Limit = 128 }, testSet, Tiny, train: false));
        return (train, test, new RunArtifacts(DataSetup.NormalizationFor(request, trainSet, 1), trainSet.Name));
    }

    private static PretrainOptions Options(int epochs, int? maxSteps = null) => new()
    {
        Epochs = epochs, BatchSize = 32, Blr = 1e-3, WarmupEpochs = 1, Seed = 11, LogEvery = 1, EvalImages = 128,
        ReconstructionImages = 4, MaxSteps = maxSteps, CheckpointMinutes = 0,
    };

    private static List<double> StepLosses(string run) =>
        MetricsLog.Read(new RunFolder(run).Metrics).Where(r => (string?)r["type"] == "step")
            .Select(r => r["loss"]!.GetValue<double>()).ToList();

    [Fact]
    public void Given_real_fashion_mnist_When_training_a_tiny_model_for_a_few_dozen_steps_Then_train_and_test_loss_fall()
    {
        var (train, test, artifacts) = RealData(images: 1024);
        using (train)
        using (test)
        {
            var run = Path.Combine(_dir, "learn");
            var summary = new Pretrainer(Tiny, Options(epochs: 2) with { Blr = 3e-3 }, train, test, run, artifacts).Train();

            var losses = StepLosses(run);
            Assert.Equal(64, losses.Count);                                // 2 epochs × 1024/32 steps
            double first = losses.Take(5).Average(), last = losses.TakeLast(5).Average();
            Assert.True(last < 0.75 * first, $"train loss did not fall: first steps {first:F3}, last steps {last:F3}");
            Assert.NotNull(summary.FirstTestLoss);
            Assert.True(summary.LastTestLoss < 0.8 * summary.FirstTestLoss, $"test loss {summary.FirstTestLoss:F3} → {summary.LastTestLoss:F3}");

            // Every step line carries the process RSS and the trainer thread's live tensors; the latter must not grow
            // (each step runs in a dispose scope) within an epoch, nor from the first epoch's evaluation to the second's.
            var steps = MetricsLog.Read(new RunFolder(run).Metrics).Where(r => (string?)r["type"] == "step").ToList();
            Assert.All(steps, r => Assert.True(r["rss_mb"]!.GetValue<double>() > 0, "rss_mb must be positive"));
            long Live(int i) => steps[i]["live_tensors"]!.GetValue<long>();
            Assert.Equal(Live(7), Live(31));
            Assert.Equal(Live(39), Live(63));

            var folder = new RunFolder(run);
            foreach (var f in new[] { folder.ConfigJson, folder.Metrics, folder.LossPlot, folder.FinalCheckpoint, folder.ExportedPth,
                                      folder.ReconstructionPng(0), folder.ReconstructionPng(2), folder.EpochCheckpoint(2), folder.Summary })
                Assert.True(File.Exists(f), $"missing {f}");
            using var bmp = SkiaSharp.SKBitmap.Decode(folder.ReconstructionPng(2));
            Assert.NotNull(bmp);
            // The exported .pth loads back into the same architecture.
            using var loaded = ModelSource.Load(folder.ExportedPth, Tiny.ToJson());
            Assert.Equal(Tiny with { Name = "" }, loaded.Model.Config with { Name = "" });
        }
    }

    [Fact]
    public void Given_a_run_stopped_mid_epoch_When_resumed_Then_the_loss_sequence_equals_the_uninterrupted_run()
    {
        var (train, test, artifacts) = RealData(images: 256);
        using (train)
        using (test)
        {
            var whole = Path.Combine(_dir, "whole");
            new Pretrainer(Tiny, Options(epochs: 2), train, test, whole, artifacts).Train();

            var parted = Path.Combine(_dir, "parted");
            var first = new Pretrainer(Tiny, Options(epochs: 2, maxSteps: 5), train, test, parted, artifacts).Train();
            Assert.Equal(5, first.Steps);
            Assert.True(File.Exists(new RunFolder(parted).LastCheckpoint));
            var resumed = new Pretrainer(Tiny, Options(epochs: 2), train, test, parted, artifacts).Train(resumeFrom: parted);

            Assert.Equal(16, resumed.Steps);
            Assert.Equal(StepLosses(whole), StepLosses(parted));             // bit-identical losses
            Assert.Equal(resumed.LastTestLoss, new RunFolder(whole).Summary is var s && File.Exists(s)
                ? JsonNode.Parse(File.ReadAllText(s))!["last_test_loss"]!.GetValue<double>() : double.NaN);
        }
    }

    [Fact]
    public void Given_a_fixed_step_count_When_stopped_and_resumed_Then_the_run_ends_there_with_the_uninterrupted_losses_and_schedule()
    {
        var (train, test, artifacts) = RealData(images: 256);    // 8 steps per epoch
        using (train)
        using (test)
        {
            var fixedLength = Options(epochs: 2) with { TotalSteps = 13 };
            var whole = Path.Combine(_dir, "fixed-whole");
            var done = new Pretrainer(Tiny, fixedLength, train, test, whole, artifacts).Train();
            Assert.Equal(13, done.Steps);
            Assert.Equal(2, done.EpochsCompleted);
            Assert.True(File.Exists(new RunFolder(whole).FinalCheckpoint));

            var parted = Path.Combine(_dir, "fixed-parted");
            Assert.Equal(10, new Pretrainer(Tiny, fixedLength with { MaxSteps = 10 }, train, test, parted, artifacts).Train().Steps);
            Assert.Equal(13, new Pretrainer(Tiny, fixedLength, train, test, parted, artifacts).Train(resumeFrom: parted).Steps);
            Assert.Equal(StepLosses(whole), StepLosses(parted));

            var schedule = new LrSchedule(fixedLength.AbsoluteLr, fixedLength.WarmupEpochs, 13 / 8.0);
            var lrs = MetricsLog.Read(new RunFolder(whole).Metrics).Where(r => (string?)r["type"] == "step").Select(r => r["lr"]!.GetValue<double>()).ToList();
            Assert.Equal(Enumerable.Range(0, 13).Select(i => schedule.At(i / 8 + (double)(i % 8) / 8)), lrs);

            var beyond = Assert.Throws<ArgumentException>(() => new Pretrainer(Tiny, Options(epochs: 1) with { TotalSteps = 13 }, train, test, whole, artifacts));
            Assert.Contains("do not end in its last epoch", beyond.Message);
        }
    }

    [Fact]
    public void Given_cancellation_during_training_When_stopped_Then_a_resumable_checkpoint_is_written_and_resume_completes()
    {
        var (train, test, artifacts) = RealData(images: 256);
        using (train)
        using (test)
        {
            var run = Path.Combine(_dir, "cancel");
            using var cts = new CancellationTokenSource();
            var trainer = new Pretrainer(Tiny, Options(epochs: 2), train, test, run, artifacts);
            trainer.Progress += p => { if (p.GlobalStep == 3) cts.Cancel(); };
            var stopped = trainer.Train(cancellationToken: cts.Token);
            Assert.True(stopped.Interrupted);
            Assert.Equal(3, stopped.Steps);
            using (var ckpt = Checkpoint.Load(new RunFolder(run).LastCheckpoint))
            {
                Assert.Equal(3, ckpt.State!.GlobalStep);
                Assert.Equal(3, ckpt.State.StepInEpoch);
                Assert.NotEmpty(ckpt.OptimizerTensors);
            }
            var done = new Pretrainer(Tiny, Options(epochs: 2), train, test, run, artifacts).Train(resumeFrom: run);
            Assert.False(done.Interrupted);
            Assert.Equal(16, done.Steps);
            Assert.Equal(16, StepLosses(run).Count);
        }
    }

    [Fact]
    public void Given_a_checkpoint_write_that_fails_midway_When_loading_Then_the_previous_checkpoint_is_intact()
    {
        using var model = new MaskedAutoencoder(Tiny);
        var path = Path.Combine(_dir, "ckpt.ckpt");
        Checkpoint.Save(path, model, null, new TrainingState { GlobalStep = 7 });
        var before = File.ReadAllBytes(path);

        Assert.Throws<IOException>(() => AtomicFile.Write(path, fs =>
        {
            fs.Write(new byte[1000]);
            throw new IOException("simulated crash mid-write");
        }));

        Assert.Equal(before, File.ReadAllBytes(path));
        using var ckpt = Checkpoint.Load(path);
        Assert.Equal(7, ckpt.State!.GlobalStep);
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp"));
        using var restored = ckpt.CreateModel();
        foreach (var ((k, a), (_, b)) in model.OrderedStateDict().Zip(restored.OrderedStateDict()))
            Assert.True(a.eq(b).all().item<bool>(), k);
    }

    [Theory]
    [InlineData(0.0, 0.0)]
    [InlineData(0.5, 0.5e-3)]        // half-way through a 1-epoch warm-up
    [InlineData(1.0, 1e-3)]          // peak
    [InlineData(5.5, 0.5e-3)]        // cosine mid-point of epochs 1..10
    [InlineData(10.0, 0.0)]
    public void Given_MAE_schedule_When_evaluated_Then_warmup_then_half_cosine(double epoch, double expected) =>
        Assert.Equal(expected, new LrSchedule(1e-3, WarmupEpochs: 1, Epochs: 10).At(epoch), 12);

    [Fact]
    public void Given_MAE_scaling_rule_When_batch_is_4096_Then_lr_is_blr_times_16() =>
        Assert.Equal(3e-5 * 16, LrSchedule.ScaledLr(3e-5, 4096), 15);

    [Fact]
    public void Given_a_model_When_split_into_decay_groups_Then_weights_and_tokens_decay_and_biases_norms_tables_do_not()
    {
        using var model = new MaskedAutoencoder(Tiny);
        var groups = ParamGroups.WeightDecaySplit(model, 0.05);
        var decay = groups.Single(g => g.WeightDecay == 0.05).Params.Select(p => p.Key).ToHashSet();
        var noDecay = groups.Single(g => g.WeightDecay == 0).Params.Select(p => p.Key).ToHashSet();
        Assert.Contains("cls_token", decay);
        Assert.Contains("mask_token", decay);
        Assert.Contains("blocks.0.layers.0.1.fn.weight", decay);           // ISTA dictionary
        Assert.Contains("patch_embed.proj.weight", decay);
        Assert.Contains("patch_embed.proj.bias", noDecay);
        Assert.Contains("blocks.0.layers.0.0.norm.weight", noDecay);
        Assert.Contains("decoder_pred.bias", noDecay);
        Assert.DoesNotContain("pos_embed", decay.Concat(noDecay));
        Assert.DoesNotContain("decoder_pos_embed", decay.Concat(noDecay));
        Assert.Equal(model.parameters().Count(p => p.requires_grad), decay.Count + noDecay.Count);
    }

    [Fact]
    public void Given_the_same_gradients_When_stepping_Then_our_AdamW_equals_TorchSharp_AdamW()
    {
        using var scope = NewDisposeScope();
        manual_seed(5);
        var a = new TorchSharp.Modules.Parameter(randn(4, 3));
        var b = new TorchSharp.Modules.Parameter(a.detach().clone());
        using var ours = new AdamW([new ParamGroup("decay", [("w", a)], 0.1)], 0.9, 0.95);
        var theirs = optim.AdamW([b], lr: 1e-2, beta1: 0.9, beta2: 0.95, weight_decay: 0.1);
        for (int i = 0; i < 5; i++)
        {
            var g = randn(4, 3);
            a.grad = g.clone();
            b.grad = g.clone();
            ours.Step(1e-2);
            theirs.step();
        }
        TensorAssert.RelativeToMax(a, b, 1e-6, "AdamW after 5 steps");
    }
}
