using System.Diagnostics;
using CrateMae.Models;
using CrateMae.Training;
using CrateMae.Tests.Support;

namespace CrateMae.Tests.Reliability;

/// <summary>A run that cannot fit in memory is refused before anything is allocated, in one line with both numbers.</summary>
[Collection(ReliabilityCollection.Name)]
public sealed class MemoryEstimateTests
{
    /// <summary>The model: width 65,536, 48 + 48 blocks (about 10¹² parameters).</summary>
    private const string Giant =
        """{"kind":"crate","img_size":224,"patch_size":16,"in_chans":3,"embed_dim":65536,"depth":48,"num_heads":64,"decoder_embed_dim":65536,"decoder_depth":48,"decoder_num_heads":64}""";

    [Fact]
    public void Given_a_model_far_larger_than_memory_When_benched_or_pretrained_Then_refused_at_once_without_allocating()
    {
        using var self = Process.GetCurrentProcess();
        long before = self.WorkingSet64;
        var clock = Stopwatch.StartNew();
        var bench = Cli.AssertOneLineError(Cli.Run("bench", "--model", Giant, "--batch-size", "8"), 2,
            "bench would need about", "MB are available", "a smaller model", "--force");
        var pretrain = Cli.AssertOneLineError(Cli.Run("pretrain", "--model", Giant, "--output", Path.Combine(Path.GetTempPath(), "never-" + Guid.NewGuid())), 2,
            "pretrain would need about", "--force");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"refusing took {clock.Elapsed.TotalSeconds:F1} s");
        self.Refresh();
        Assert.True(self.WorkingSet64 - before < 500L << 20, $"the refusal grew the process by {(self.WorkingSet64 - before) >> 20} MB\n{bench}\n{pretrain}");
    }

    [Fact]
    public void Given_a_model_far_larger_than_memory_When_fine_tuned_or_probed_Then_refused_at_once_without_allocating()
    {
        using var self = Process.GetCurrentProcess();
        long before = self.WorkingSet64;
        var clock = Stopwatch.StartNew();
        var finetune = Cli.AssertOneLineError(Cli.Run("finetune", "--model", Giant, "--floor", "random", "--output", Path.Combine(Path.GetTempPath(), "never-" + Guid.NewGuid())), 2,
            "finetune would need about", "--force");
        var probe = Cli.AssertOneLineError(Cli.Run("linprobe", "--model", Giant, "--floor", "random", "--output", Path.Combine(Path.GetTempPath(), "never-" + Guid.NewGuid() + ".json")), 2,
            "linprobe would need about", "--force");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"refusing took {clock.Elapsed.TotalSeconds:F1} s");
        self.Refresh();
        Assert.True(self.WorkingSet64 - before < 500L << 20, $"the refusal grew the process by {(self.WorkingSet64 - before) >> 20} MB\n{finetune}\n{probe}");
    }

    [Fact]
    public void Given_the_feature_evaluation_When_estimated_Then_the_probe_working_set_grows_with_images_and_width()
    {
        var config = Presets.Get("crate-fmnist");
        var (model, data, total) = MemoryEstimate.FeatureEvaluation(config, 256, images: 70_000, featureDim: 192);
        Assert.Equal(4L * ParameterCount.Of(config).Total, model);
        Assert.Equal(model + data + MemoryEstimate.ProcessBaseBytes, total);
        Assert.Equal(MemoryEstimate.ExtractionBytes(config, 256, 70_000, poolings: 6), data);          // extracting outweighs probing 192-d features
        var pixels = MemoryEstimate.FeatureEvaluation(config, 256, 70_000, 784, extracts: false);
        Assert.Equal(2L * 70_000 * 784 * 4 + MemoryEstimate.ProbeBytes(70_000, 784), pixels.Data);      // raw pixels: no encoder pass
        Assert.True(MemoryEstimate.FeatureEvaluation(config, 256, 70_000, 192, extracts: false).Data < pixels.Data, "784-d features need more than 192-d");
        Assert.Equal(MemoryEstimate.ProbeBytes(70_000, 192) - MemoryEstimate.ProbeBytes(0, 192),
            MemoryEstimate.ProbeBytes(140_000, 192) - MemoryEstimate.ProbeBytes(70_000, 192));              // linear in the images
        var fine = MemoryEstimate.FineTuning(config, 128, bf16Activations: false, probeImages: 60_000);
        var noProbe = MemoryEstimate.FineTuning(config, 128, bf16Activations: false, probeImages: 0);
        Assert.Equal(MemoryEstimate.ExtractionBytes(config, 128, 60_000, poolings: 1) + MemoryEstimate.ProbeBytes(60_000, 192), fine.Total - noProbe.Total);
        Assert.True(noProbe.Model < MemoryEstimate.Training(config, 128, false).Model, "fine-tuning trains the encoder only");
    }

    [Fact]
    public void Given_the_default_preset_When_pretrained_for_an_epoch_of_2048_images_Then_its_rss_stays_within_25_percent_of_the_estimate()
    {
        var run = Path.Combine(Path.GetTempPath(), "cratemae-memory-" + Guid.NewGuid().ToString("N"));
        try
        {
            var r = CliRunner.Run(TimeSpan.FromMinutes(5), "pretrain", "--model", "crate-fmnist", "--limit", "2048", "--epochs", "1", "--minutes", "0",
                "--batch-size", "128", "--precision", "fp32", "--log-every", "1", "--eval-images", "256", "-o", run);
            Assert.True(r.ExitCode == 0, $"pretrain failed ({r.ExitCode})\n{r.Stdout}\n{r.Stderr}");
            // The largest resident size the run sampled at its 16 steps (VmRSS after each step).
            double peak = MetricsLog.Read(Path.Combine(run, "metrics.jsonl"))
                .Where(o => (string?)o["type"] == "step").Max(o => (double)o["rss_mb"]!);
            double estimate = MemoryEstimate.Training(Presets.Get("crate-fmnist"), 128, bf16Activations: false).Total / (1024.0 * 1024.0);
            Assert.InRange(peak, 0.75 * estimate, 1.25 * estimate);
        }
        finally
        {
            if (Directory.Exists(run)) Directory.Delete(run, recursive: true);
        }
    }

    [Fact]
    public void Given_too_little_memory_for_the_activations_When_checked_Then_the_line_names_the_batch_size()
    {
        var config = Presets.Get("crate-small");
        var (model, activations, total) = MemoryEstimate.Training(config, 64, bf16Activations: false);
        Assert.True(activations > model, "batch 64 at 224 px: the activations dominate");
        Assert.Equal(model + activations + MemoryEstimate.ProcessBaseBytes, total);
        var e = Assert.Throws<ArgumentException>(() => MemoryEstimate.EnsureFits("pretrain", config, 64, false, available: total - 1));
        Assert.Contains("smaller --batch-size", e.Message);
        Assert.Contains("--precision bf16", e.Message);
        MemoryEstimate.EnsureFits("pretrain", config, 64, false, available: total);                 // fits exactly: no error
        Assert.True(MemoryEstimate.Training(config, 64, bf16Activations: true).Activations * 2 == activations);
    }

    [Fact]
    public void Given_the_model_alone_exceeds_memory_When_checked_Then_the_line_names_the_model()
    {
        var config = Presets.Get("crate-base");
        var (model, _, _) = MemoryEstimate.Training(config, 1, bf16Activations: false);
        Assert.Equal(16L * ParameterCount.Of(config).Total, model);
        var e = Assert.Throws<ArgumentException>(() => MemoryEstimate.EnsureFits("bench", config, 1, false, available: model / 2));
        Assert.Contains("a smaller model", e.Message);
    }
}
