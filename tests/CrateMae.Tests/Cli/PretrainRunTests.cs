using System.Text.Json.Nodes;
using CrateMae.Tests.Data;
using CrateMae.Tests.Reliability;
using CrateMae.Tests.Support;
using CrateMae.Training;

namespace CrateMae.Tests.Cli;

/// <summary>
/// <c>pretrain --resume RUN</c> takes the run's own options from RUN/config.json, and <c>pretrain --minutes M</c> fixes the
/// run's length from a calibration and records it, so a resume keeps it.
/// </summary>
public sealed class PretrainRunTests : IDisposable
{
    private readonly TempDirectory _tmp = new();
    private string? _data, _model;

    public void Dispose() => _tmp.Dispose();

    /// <summary>256 random MNIST-layout images (train and test).</summary>
    private string Data => _data ??= ReliabilityData.Mnist(_tmp, n: 256);

    /// <summary>The tiny model as a JSON config file, as a user passes --model CFG.</summary>
    private string ModelFile
    {
        get
        {
            if (_model is not null) return _model;
            _model = _tmp.File("tiny.json");
            File.WriteAllText(_model, Reliability.Cli.TinyModel);
            return _model;
        }
    }

    private static CliRunner.Result Succeed(params string[] args)
    {
        var r = CliRunner.Run(args);
        Assert.True(r.ExitCode == 0, $"crate-mae {string.Join(' ', args)}: exit {r.ExitCode}\n{r.Stdout}\n{r.Stderr}");
        return r;
    }

    private static CliRunner.Result Refuse(string fragment, params string[] args)
    {
        var r = CliRunner.Run(args);
        Assert.True(r.ExitCode == 2, $"expected exit code 2\n{r.Stdout}\n{r.Stderr}");
        var lines = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, $"expected one line on stderr:\n{r.Stderr}");
        Assert.Contains(fragment, lines[0]);
        return r;
    }

    private static List<(long Step, double Loss, double Lr)> Steps(string run) =>
        MetricsLog.Read(new RunFolder(run).Metrics).Where(r => (string?)r["type"] == "step")
            .Select(r => (MetricsLog.Integer(r, "step")!.Value, MetricsLog.Number(r, "loss")!.Value, MetricsLog.Number(r, "lr")!.Value)).ToList();

    private static List<double?> TestLosses(string run) =>
        MetricsLog.Read(new RunFolder(run).Metrics).Where(r => (string?)r["type"] == "epoch").Select(r => MetricsLog.Number(r, "test_loss")).ToList();

    private static JsonNode Training(string run) => JsonNode.Parse(File.ReadAllText(new RunFolder(run).ConfigJson))!["training"]!;

    [Fact]
    public void Given_a_run_stopped_early_When_resumed_with_the_folder_alone_Then_it_ends_with_the_uninterrupted_losses_and_refuses_conflicting_options()
    {
        string[] Start(string run) =>
        [
            "pretrain", "--model", ModelFile, "--data", "mnist:" + Data, "--limit", "128", "--epochs", "3", "--batch-size", "16",
            "--output", run, "--seed", "5", "--eval-images", "32", "--log-every", "1", "--threads", "1",
        ];
        var whole = _tmp.File("whole");
        var summary = JsonNode.Parse(Succeed([.. Start(whole), "--json"]).Stdout)!;    // with --json stdout holds only the summary
        Assert.Equal(24, summary["steps"]!.GetValue<long>());
        Assert.Equal(3, summary["epochs_completed"]!.GetValue<int>());
        var parted = _tmp.File("parted");
        Succeed([.. Start(parted), "--max-steps", "10"]);
        Assert.Equal(10, Steps(parted).Count);

        var config = Path.Combine(parted, "config.json");
        Refuse($"--epochs 5 differs from the run's 3 ({config})", "pretrain", "--resume", parted, "--epochs", "5");
        Refuse($"--limit 64 differs from the run's 128 ({config})", "pretrain", "--resume", parted, "--limit", "64");
        Refuse("--model crate-fmnist differs from the run's model", "pretrain", "--resume", parted, "--model", "crate-fmnist");
        Refuse("--minutes 5 differs from the run's none", "pretrain", "--resume", parted, "--minutes", "5");
        Assert.Equal(10, Steps(parted).Count);    // a refused resume touches nothing

        var resumed = Succeed("pretrain", "--resume", parted, "--batch-size", "16", "--threads", "1");
        Assert.Contains("3 epochs × 8 steps of 16", resumed.Stdout);    // the run's own header
        Assert.Contains("128 images", resumed.Stdout);
        Assert.DoesNotContain("calibration", resumed.Stdout + resumed.Stderr);
        Assert.Equal(Steps(whole), Steps(parted));
        Assert.Equal(TestLosses(whole), TestLosses(parted));
        Assert.True(File.Exists(new RunFolder(parted).FinalCheckpoint));
    }

    [Fact]
    public void Given_a_time_budget_When_pretraining_Then_the_calibrated_step_count_is_recorded_kept_on_resume_and_ends_the_schedule()
    {
        var run = _tmp.File("budget");
        const int stepsPerEpoch = 256 / 16;
        var first = Succeed("pretrain", "--model", ModelFile, "--data", "mnist:" + Data, "--batch-size", "16", "--epochs", "1000",
            "--minutes", "0.05", "--output", run, "--eval-images", "32", "--log-every", "1", "--threads", "1", "--max-steps", "3");
        Assert.Contains("calibration: ", first.Stdout);
        var training = Training(run);
        long total = training["total_steps"]!.GetValue<long>();
        var calibration = training["calibration"]!;
        Assert.Equal(total, calibration["steps"]!.GetValue<long>());
        Assert.Equal(1000L * stepsPerEpoch, calibration["requested_steps"]!.GetValue<long>());
        Assert.True(total > 3 && total < 1000L * stepsPerEpoch, $"calibrated length {total}");
        Assert.True(calibration["images_per_second"]!.GetValue<double>() > 0);
        Assert.Equal(CrateMae.Hosting.CpuDescription.Current, calibration["cpu"]!.GetValue<string>());
        Assert.Equal((total + stepsPerEpoch - 1) / stepsPerEpoch, training["epochs"]!.GetValue<long>());

        var resumed = Succeed("pretrain", "--resume", run, "--threads", "1");
        Assert.DoesNotContain("calibration", resumed.Stdout + resumed.Stderr);
        var after = Training(run);    // not calibrated again: the recorded length and schedule stand
        foreach (var key in new[] { "total_steps", "epochs", "warmup_epochs", "calibration" })
            Assert.Equal(training[key]!.ToJsonString(), after[key]!.ToJsonString());

        var steps = Steps(run);
        Assert.Equal(Enumerable.Range(1, (int)total).Select(i => (long)i), steps.Select(s => s.Step));
        var schedule = new LrSchedule(training["absolute_lr"]!.GetValue<double>(), training["warmup_epochs"]!.GetValue<double>(),
            total / (double)stepsPerEpoch, training["min_lr"]!.GetValue<double>());
        foreach (var (step, _, lr) in steps)
        {
            long before = step - 1;
            Assert.Equal(schedule.At(before / stepsPerEpoch + (double)(before % stepsPerEpoch) / stepsPerEpoch), lr);
        }
        // Every step's lr is the warm-up + cosine over the recorded total, which reaches the floor exactly there.
        Assert.Equal(training["min_lr"]!.GetValue<double>(), schedule.At(total / (double)stepsPerEpoch));
        Assert.True(steps[^1].Lr < steps[^2].Lr, "the lr still falls at the last step");
        Assert.True(File.Exists(new RunFolder(run).FinalCheckpoint));
    }

    [Fact]
    public void Given_a_budget_the_epochs_fit_in_When_pretraining_Then_the_run_is_the_unbudgeted_run_bit_for_bit()
    {
        string[] Args(string run) =>
        [
            "pretrain", "--model", ModelFile, "--data", "mnist:" + Data, "--limit", "32", "--batch-size", "16", "--epochs", "3",
            "--output", run, "--eval-images", "16", "--log-every", "1", "--threads", "1",
        ];
        var plain = _tmp.File("plain");
        Succeed(Args(plain));
        var budgeted = _tmp.File("budgeted");
        var r = Succeed([.. Args(budgeted), "--minutes", "60"]);    // 2 steps an epoch: the calibration's 7 steps span 4 epochs
        // The console wraps long lines where its width ends, which depends on the measured img/s: compare with spaces joined.
        Assert.Contains("→ all 6 steps (3 epochs) fit in 60 min", string.Join(' ', r.Stdout.Split((char[])[' ', '\n', '\r'], StringSplitOptions.RemoveEmptyEntries)));
        Assert.Equal(Steps(plain), Steps(budgeted));
        Assert.Equal(TestLosses(plain), TestLosses(budgeted));
        var training = Training(budgeted);
        Assert.Null(training["total_steps"]);
        Assert.Equal(6, training["calibration"]!["steps"]!.GetValue<long>());
        Assert.Null(Training(plain)["calibration"]);
    }

    [Fact]
    public void Given_a_budget_that_holds_the_epochs_When_fitting_Then_the_run_is_unchanged_else_it_is_cut_to_what_fits()
    {
        // 100 img/s, batch 10: 0.1 s a step; 300 eval images: 1 s an evaluation.
        Assert.Equal(40, PretrainBudget.Steps(7.1, 100, 10, 20, 2, 300));      // 40 × 0.1 + 3 × 1 = 7 ≤ 7.1
        Assert.Equal(31, PretrainBudget.Steps(6.15, 100, 10, 20, 2, 300));     // 31 × 0.1 + 3 × 1 = 6.1; 32 steps take 6.2
        Assert.Equal(20, PretrainBudget.Steps(4.05, 100, 10, 20, 2, 300));     // 20 × 0.1 + 2 × 1 = 4 (one epoch, two evaluations)
        Assert.Equal(1, PretrainBudget.Steps(0.01, 100, 10, 20, 2, 300));      // at least one step
        Assert.Throws<ArgumentException>(() => PretrainBudget.Steps(10, 0, 10, 20, 2, 300));
    }
}

/// <summary>One grammar: every command's --help uses the current names, and the old spellings still work with a notice.</summary>
public sealed class OptionGrammarTests
{
    private static readonly string[] Commands =
        ["info", "pretrain", "convert", "analyze", "attention", "pca", "reconstruct", "report", "linprobe", "knn", "finetune", "embed", "compare", "bench", "export"];

    [Fact]
    public void Given_every_command_When_asking_for_help_Then_only_the_current_option_names_appear()
    {
        foreach (var command in Commands)
        {
            var r = CliRunner.Run(command, "--help");
            Assert.True(r.ExitCode == 0, $"{command} --help: {r.Stderr}");
            foreach (var old in new[] { "--out ", "--images ", "--batch ", "--count" })
            {
                bool expected = old == "--count" && command is "attention" or "pca" or "reconstruct";
                Assert.True(expected == r.Stdout.Contains(old, StringComparison.Ordinal), $"{command} --help {(expected ? "lacks" : "shows")} {old}");
            }
            if (command is not ("info" or "convert" or "compare" or "export"))
                Assert.Contains("-b, --batch-size <N>", r.Stdout);
            if (command is not ("info" or "convert" or "bench"))
                Assert.Contains("-o, --output <", r.Stdout);
            Assert.Contains("--json", r.Stdout);
        }
    }

    [Fact]
    public void Given_old_spellings_When_rewriting_Then_each_becomes_its_current_name_with_one_notice()
    {
        var warnings = new StringWriter();
        var args = CrateMae.Cli.Commands.DeprecatedOptions.Rewrite(
            ["analyze", "--images=6", "--out", "d", "--limit", "3", "--out", "e"], warnings);
        Assert.Equal(["analyze", "--limit=6", "--output", "d", "--limit", "3", "--output", "e"], args);
        Assert.Equal(["warning: --images is deprecated; use --limit", "warning: --out is deprecated; use --output"],
            warnings.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));

        var untouched = new StringWriter();
        Assert.Equal(["pretrain", "--images", "3", "--batch", "2"],
            CrateMae.Cli.Commands.DeprecatedOptions.Rewrite(["pretrain", "--images", "3", "--batch", "2"], untouched));
        Assert.Equal("", untouched.ToString());
    }

    [Fact]
    public void Given_convert_with_json_When_run_Then_stdout_is_one_document_naming_what_was_written()
    {
        using var tmp = new TempDirectory();
        var config = CrateMae.Models.Presets.Resolve(Reliability.Cli.TinyModel);
        using var generator = new TorchSharp.torch.Generator(1);
        using var model = new CrateMae.Models.MaskedAutoencoder(config, generator);
        var ckpt = tmp.File("tiny.ckpt");
        Checkpoint.Save(ckpt, model, null, null);
        var output = tmp.File("tiny.safetensors");
        var r = CliRunner.Run("convert", ckpt, output, "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var doc = JsonNode.Parse(r.Stdout)!;
        Assert.Equal(output, doc["output"]!.GetValue<string>());
        Assert.Equal(CrateMae.Models.ParameterCount.Of(config).Total, doc["parameters"]!.GetValue<long>());
        Assert.True(File.Exists(output));
    }

    [Fact]
    public void Given_bench_with_the_old_batch_option_When_run_Then_it_measures_that_batch_and_warns_once()
    {
        var r = CliRunner.Run("bench", "--model", CliRunner.TinyConfig, "--batch", "2", "--steps", "1", "--warmup", "0",
            "--peak-size", "0", "--only", "embed", "--threads", "1", "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("warning: --batch is deprecated; use --batch-size", r.Stderr);
        Assert.Equal(2, JsonNode.Parse(r.Stdout)!["batch"]!.GetValue<int>());
    }
}
