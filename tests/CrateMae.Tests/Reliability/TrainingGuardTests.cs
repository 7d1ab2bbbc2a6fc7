using System.Text.Json.Nodes;
using CrateMae.Data;
using CrateMae.Models;
using CrateMae.Tests.Data;
using CrateMae.Training;
using SkiaSharp;
using static TorchSharp.torch;

namespace CrateMae.Tests.Reliability;

/// <summary>Training stops cleanly on divergence and bad data without losing the last good state; --skip-bad-images.</summary>
[Collection(ReliabilityCollection.Name)]
public sealed class TrainingGuardTests : IDisposable
{
    private readonly TempDirectory _tmp = new();

    public void Dispose() => _tmp.Dispose();

    /// <summary>Deterministic random batches [8, 1, 28, 28]; <see cref="Poison"/> may replace or fail a step.</summary>
    private sealed class SyntheticSource(int stepsPerEpoch) : IBatchSource
    {
        public int StepsPerEpoch => stepsPerEpoch;
        public int BatchSize => 8;
        public Func<int, int, Tensor, Tensor>? Poison { get; init; }

        public IEnumerable<(Tensor Images, Tensor Labels)> Epoch(int epoch, int startStep, CancellationToken cancellationToken)
        {
            for (int step = startStep; step < stepsPerEpoch; step++)
            {
                using var gen = new Generator((ulong)(1000 * epoch + step + 1));
                var images = randn(8, 1, 28, 28, generator: gen);
                if (Poison is { } p) images = p(epoch, step, images);
                yield return (images, zeros(8, dtype: ScalarType.Int64));
            }
        }
    }

    private static PretrainOptions Options => new()
    {
        Epochs = 2, BatchSize = 8, Lr = 1e-3, WarmupEpochs = 0, EvalImages = 8, LogEvery = 1,
        CheckpointMinutes = 1e-9,    // a checkpoint after every step
    };

    private static MaeConfig Tiny => Presets.Resolve(Cli.TinyModel);

    private static RunArtifacts Artifacts => new(NormalizationStats.FashionMnist, "synthetic");

    private static void AssertLoadableAt(string path, long globalStep)
    {
        using var ckpt = Checkpoint.Load(path);
        Assert.Equal(globalStep, ckpt.State!.GlobalStep);
        using var model = ckpt.CreateModel();
        foreach (var (key, value) in model.OrderedStateDict())
            Assert.True(isfinite(value).all().item<bool>(), $"{path}: {key} is not finite");
    }

    [Fact]
    public void Non_finite_loss_stops_naming_the_step_and_the_intact_last_checkpoint()
    {
        // Step 5 of epoch 1 feeds finite but enormous pixels: the squared error overflows to Inf.
        var source = new SyntheticSource(8) { Poison = (e, s, x) => e == 0 && s == 5 ? x * 1e30f : x };
        var run = _tmp.File("run");
        var trainer = new Pretrainer(Tiny, Options, source, new SyntheticSource(1), run, Artifacts);
        var e = Assert.Throws<TrainingDivergedException>(() => trainer.Train());
        Assert.Contains("epoch 1, step 5 (global step 5)", e.Message);
        var last = new RunFolder(run).LastCheckpoint;
        Assert.Contains($"the last good checkpoint is {last}", e.Message);
        AssertLoadableAt(last, 5);
        Assert.Empty(Directory.GetFiles(run, ".*.tmp"));
    }

    [Fact]
    public void Huge_learning_rate_through_the_cli_stops_with_one_line_and_a_loadable_checkpoint()
    {
        var run = _tmp.File("run");
        var r = Cli.Run(ReliabilityData.Pretrain("mnist:" + ReliabilityData.Mnist(_tmp), run,
            "--lr", "1e30", "--warmup-epochs", "0", "--checkpoint-minutes", "0.000001", "--epochs", "3"));
        var line = Cli.AssertOneLineError(r, 1, "loss became", "step", "the last good checkpoint is");
        var last = new RunFolder(run).LastCheckpoint;
        Assert.Contains(last, line);
        using var ckpt = Checkpoint.Load(last);
        using var model = ckpt.CreateModel();
    }

    [Fact]
    public void NaN_in_a_training_batch_stops_naming_the_step_and_saves_a_resumable_checkpoint()
    {
        var run = _tmp.File("run");
        var options = Options with { CheckpointMinutes = 0 };
        var poisoned = new SyntheticSource(8) { Poison = (e, s, x) => e == 1 && s == 3 ? x.index_put_(tensor(float.NaN), TensorIndex.Single(0)) : x };
        var e = Assert.Throws<InvalidDataException>(() => new Pretrainer(Tiny, options, poisoned, null, run, Artifacts).Train());
        Assert.Contains("the training batch contains NaN or Inf; training stopped at epoch 2, step 3 (global step 11)", e.Message);
        Assert.Contains("saved a resumable checkpoint", e.Message);
        AssertLoadableAt(new RunFolder(run).LastCheckpoint, 11);

        // The data is fixed: the run resumes there and finishes.
        var summary = new Pretrainer(Tiny, options, new SyntheticSource(8), null, run, Artifacts).Train(run);
        Assert.Equal(16, summary.Steps);
        Assert.False(summary.Interrupted);
    }

    [Fact]
    public void A_reader_failure_mid_epoch_keeps_the_progress()
    {
        var run = _tmp.File("run");
        var options = Options with { CheckpointMinutes = 0 };
        var failing = new SyntheticSource(8)
        {
            Poison = (e, s, x) => e == 0 && s == 6 ? throw new InvalidDataException("Image file '/data/x.png': the file is truncated.") : x,
        };
        var e = Assert.Throws<InvalidDataException>(() => new Pretrainer(Tiny, options, failing, null, run, Artifacts).Train());
        Assert.Contains("/data/x.png", e.Message);
        Assert.Contains("epoch 1, step 6", e.Message);
        AssertLoadableAt(new RunFolder(run).LastCheckpoint, 6);
    }

    [Fact]
    public void A_corrupt_last_checkpoint_points_at_the_newest_numbered_one()
    {
        var run = _tmp.File("run");
        var options = Options with { CheckpointMinutes = 0, MaxSteps = 12 };
        new Pretrainer(Tiny, options, new SyntheticSource(8), null, run, Artifacts).Train();
        var folder = new RunFolder(run);
        File.WriteAllBytes(folder.LastCheckpoint, File.ReadAllBytes(folder.LastCheckpoint)[..5000]);    // e.g. a damaged disk

        var e = Assert.Throws<InvalidDataException>(() =>
            new Pretrainer(Tiny, Options with { CheckpointMinutes = 0 }, new SyntheticSource(8), null, run, Artifacts).Train(run));
        Assert.Contains(folder.LastCheckpoint, e.Message);
        Assert.Contains($"--resume {folder.EpochCheckpoint(1)}", e.Message);

        var summary = new Pretrainer(Tiny, Options with { CheckpointMinutes = 0 }, new SyntheticSource(8), null, run, Artifacts)
            .Train(folder.EpochCheckpoint(1));
        Assert.Equal(16, summary.Steps);
    }

    [Fact]
    public void A_numbered_checkpoint_lost_to_a_kill_at_the_epoch_end_is_recreated_on_resume()
    {
        var run = _tmp.File("run");
        var options = Options with { CheckpointMinutes = 0 };
        new Pretrainer(Tiny, options with { MaxSteps = 8 }, new SyntheticSource(8), null, run, Artifacts).Train();
        var folder = new RunFolder(run);
        File.Delete(folder.EpochCheckpoint(1));    // as if killed between checkpoint-last and its numbered copy
        new Pretrainer(Tiny, options, new SyntheticSource(8), null, run, Artifacts).Train(run);
        using var numbered = Checkpoint.Load(folder.EpochCheckpoint(1));
        Assert.Equal(8, numbered.State!.GlobalStep);
    }

    [Fact]
    public void Skip_bad_images_skips_and_counts_corrupt_files()
    {
        var dir = ReliabilityData.ImageFolder(_tmp, n: 16);
        File.WriteAllBytes(Path.Combine(dir, "empty.png"), []);
        File.WriteAllBytes(Path.Combine(dir, "junk.jpg"), TestFiles.Bytes(400, 3));
        File.WriteAllBytes(Path.Combine(dir, "huge.png"), TestFiles.PngHeaderOnly(30_000, 30_000));
        var cut = Path.Combine(dir, "cut.png");
        TestFiles.WriteImage(cut, TestFiles.RandomRgb(64, 64, 8), SKEncodedImageFormat.Png);
        File.WriteAllBytes(cut, File.ReadAllBytes(cut)[..3000]);    // header fine, pixel data truncated

        var run = _tmp.File("run");
        var r = Cli.Run(ReliabilityData.Pretrain("folder:" + dir, run, "--skip-bad-images"));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("skipped 4 unreadable image file(s)", r.Stdout);
        var config = JsonNode.Parse(File.ReadAllText(new RunFolder(run).ConfigJson))!;
        Assert.Equal(4, config["skipped_images"]!.GetValue<int>());
        var listed = config["skipped_image_files"]!.AsArray().Select(n => n!["path"]!.GetValue<string>()).Order().ToArray();
        Assert.Equal(new[] { "cut.png", "empty.png", "huge.png", "junk.jpg" }, listed.Select(Path.GetFileName).ToArray());
        Assert.True(File.Exists(new RunFolder(run).FinalCheckpoint));

        // Without the flag the same folder is refused, naming a file and the flag.
        Cli.AssertOneLineError(Cli.Run(ReliabilityData.Pretrain("folder:" + dir, _tmp.File("run2"))), 1, "--skip-bad-images");
    }
}
