using System.ComponentModel;
using System.Globalization;
using System.Runtime.InteropServices;
using CrateMae.Data;
using CrateMae.IO;
using CrateMae.Models;
using CrateMae.Training;
using Spectre.Console;
using Spectre.Console.Cli;

namespace CrateMae.Cli.Commands;

/// <summary>
/// <c>crate-mae pretrain</c>: masked-image pre-training into a run folder (<c>-o|--output</c>, default runs/&lt;model&gt;).
/// <c>--resume RUN</c> continues a run with the model, data and training options of RUN/config.json; an option given
/// again must agree with the recorded one. <c>--minutes M</c> fits the run into a time budget: a short calibration
/// measures the training throughput and fixes the step count (recorded in config.json, so a resume keeps it).
/// </summary>
public sealed class PretrainCommand : Command<PretrainCommand.Settings>
{
    /// <summary>The time budget of a run that names neither --epochs, --max-steps nor --minutes.</summary>
    public const double DefaultMinutes = 8;

    public sealed class Settings : TrainingSettings
    {
        [CommandOption("--accum-iter <N>")] [Description("Gradient accumulation steps (effective batch = batch × N; default 1).")]
        public int? AccumIter { get; init; }

        [CommandOption("--mask-ratio <R>")] [Description("Fraction of patches removed (default 0.75).")]
        public double? MaskRatio { get; init; }

        [CommandOption("--norm-pix-loss")] [Description("Regress per-patch normalised pixels (overrides the config).")]
        public bool NormPixLoss { get; init; }

        [CommandOption("--minutes <M>")]
        [Description("Time budget of the training: a calibration (2 warm-up + 5 timed steps) measures the throughput and, when the " +
                     "epochs do not fit, shortens the run to the steps that do (warm-up + cosine over them; recorded in config.json). " +
                     "Default 8 when neither --epochs nor --max-steps is given, else no budget; 0 = no budget. A resume keeps the recorded length.")]
        public double? Minutes { get; init; }

        [CommandOption("--checkpoint-every <N>")] [Description("Keep a numbered checkpoint every N epochs (default 1).")]
        public int? CheckpointEvery { get; init; }

        [CommandOption("--checkpoint-minutes <M>")] [Description("Refresh checkpoint-last.ckpt mid-epoch every M minutes (default 10; 0 = off).")]
        public double? CheckpointMinutes { get; init; }

        [CommandOption("--eval-images <N>")] [Description("Test images of the per-epoch masked-patch loss (default 2000; 0 = the whole test split).")]
        public int? EvalImages { get; init; }

        [CommandOption("--log-every <N>")] [Description("Write a metrics line every N steps (default 20).")]
        public int? LogEvery { get; init; }

        [CommandOption("--resume <RUN>")]
        [Description("Continue a run folder (or a checkpoint in it) with the model, data and training options of its config.json; " +
                     "options given again must agree with them.")]
        public string? Resume { get; init; }

        protected override TrainingDefaults Defaults { get; } =
            new(Epochs: 2, BatchSize: 128, Blr: 1.5e-3, MinLr: 0, MinCropScale: 0.35, Precision: "auto");

        /// <summary>The time budget in minutes, or null for none (see --minutes).</summary>
        public double? Budget => Minutes switch
        {
            0 => null,
            { } m => m,
            null => Resume is null && Epochs is null && MaxSteps is null ? DefaultMinutes : null,
        };

        public override ValidationResult Validate()
        {
            if (Minutes is { } m && !(m >= 0 && double.IsFinite(m))) return ValidationResult.Error("--minutes: expected a non-negative number");
            return base.Validate();
        }
    }

    /// <summary>What a run trains: the model, the options and the data.</summary>
    public sealed record Plan(MaeConfig Config, PretrainOptions Options, RunDataSource Source, string? ConfigJson);

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        s.Apply();
        var ui = new Reporter(s.Json);
        var configJson = s.Resume is { } resume ? RunFolder.ConfigFor(resume) : null;
        var plan = configJson is null ? PlanFromSettings(s) : PlanFromRun(s, RunArtifacts.ReadConfig(configJson));
        var (config, options, source) = (plan.Config, plan.Options, plan.Source);
        RandomMasking.KeepCount(config.NumPatches, options.MaskRatio);
        if (!s.Force) MemoryEstimate.EnsureFits("pretrain", config, options.BatchSize, options.Precision == "bf16");
        var output = s.Output ?? (configJson is not null ? Path.GetDirectoryName(Path.GetFullPath(configJson))!
            : s.Resume is { } r && Directory.Exists(r) ? r : Path.Combine("runs", config.Name));

        var request = new DataRequest
        {
            Spec = source.Spec, DataDir = source.DataDir, SkipBadImages = source.SkipBadImages, BatchSize = options.BatchSize,
            Workers = s.Workers, Limit = source.Limit, Seed = (ulong)options.Seed, MinCropScale = source.MinCropScale,
        };
        var trainSet = DataSetup.Open(request, DataSplit.Train);
        var testSet = DataSetup.Open(request, DataSplit.Test);
        using var train = new LoaderBatchSource(DataSetup.Loader(request, trainSet, config, train: true, dropLast: true));
        using var test = new LoaderBatchSource(DataSetup.Loader(request with { Limit = null }, testSet, config, train: false));
        var stats = DataSetup.NormalizationFor(request, trainSet, config.InChans);
        var skipped = new[] { trainSet, testSet }.OfType<ImageFolder>().SelectMany(f => f.SkippedFiles).DistinctBy(b => b.Path).ToList();
        var artifacts = new RunArtifacts(stats, trainSet.Name) { SkippedImages = skipped, DataSource = source };
        // One writer per run folder, for the whole run (released by the OS if this process dies).
        new RunFolder(output).Create();   // a read-only or unwritable place fails here, naming the run folder
        using var writer = FolderLock.Acquire(output, s.Resume is null ? "crate-mae pretrain" : "crate-mae pretrain --resume");
        if (s.Resume is null && File.Exists(new RunFolder(output).LastCheckpoint))
            throw new ArgumentException($"--output {output} already holds a run; pass --resume {output} to continue it, or choose another --output");

        var counts = ParameterCount.Of(config);
        ui.Console.MarkupLineInterpolated(
            $"[bold]{config.Name}[/] ({config.Kind}, {counts.Total:N0} parameters) on [bold]{trainSet.Name}[/] ({Math.Min(trainSet.Count, source.Limit ?? int.MaxValue):N0} images, test {testSet.Count:N0})");
        if (s.Resume is null && s.Budget is { } minutes)
            options = Calibrate(new Pretrainer(config, options, train, test, output, artifacts), options, s.WarmupEpochs, minutes,
                train.StepsPerEpoch, options.EvalImages == 0 ? testSet.Count : Math.Min(options.EvalImages, testSet.Count), ui);
        var trainer = new Pretrainer(config, options, train, test, output, artifacts);
        string length = options.TotalSteps is { } total
            ? $"{total:N0} steps ({total / (double)train.StepsPerEpoch:F2} epochs of {train.StepsPerEpoch})"
            : $"{options.Epochs} epochs × {train.StepsPerEpoch} steps";
        ui.Console.MarkupLineInterpolated($"{length} of {options.BatchSize}, lr {options.AbsoluteLr:G3}, {options.Precision} → {trainer.Run.Root}");

        if (skipped.Count > 0)
            ui.Console.MarkupLineInterpolated(
                $"[yellow]skipped {skipped.Count} unreadable image file(s)[/] (listed in config.json; first: {skipped[0].Reason})");

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        int interrupts = 0;
        void Interrupt()
        {
            if (++interrupts > 1) Environment.Exit(130);
            ui.Console.MarkupLine("[yellow]stopping after this step and writing a resumable checkpoint (press Ctrl-C again to quit at once)[/]");
            cts.Cancel();
        }
        ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; Interrupt(); };
        Console.CancelKeyPress += onCancel;
        using var onTerm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, ctx => { ctx.Cancel = true; Interrupt(); });

        PretrainSummary summary;
        try
        {
            trainer.Message += m => ui.Info(m);
            summary = TrainWithProgress(trainer, s.Resume, ui, cts.Token);
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }

        if (s.Json)
        {
            ui.WriteJson(System.Text.Json.JsonSerializer.Serialize(summary, new System.Text.Json.JsonSerializerOptions
            {
                WriteIndented = true, PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.SnakeCaseLower,
            }));
            return summary.Interrupted ? 130 : 0;
        }
        var table = new Table().AddColumns("", "value").HideHeaders();
        table.AddRow("run folder", summary.OutputDir);
        table.AddRow("epochs", $"{summary.EpochsCompleted} / {options.Epochs}" + (summary.Interrupted ? " (interrupted)" : ""));
        table.AddRow("steps", summary.Steps.ToString("N0"));
        table.AddRow("test masked-patch loss", $"{Fmt(summary.FirstTestLoss)} → {Fmt(summary.LastTestLoss)}");
        table.AddRow("last train loss", Fmt(summary.LastTrainLoss));
        table.AddRow("wall time", TimeSpan.FromSeconds(summary.WallSeconds).ToString(@"hh\:mm\:ss"));
        table.AddRow("throughput", $"{summary.ImagesPerSecond:F0} img/s");
        table.AddRow("checkpoint", summary.LastCheckpoint ?? "-");
        if (summary.ExportedPth is not null) table.AddRow("PyTorch export", summary.ExportedPth);
        ui.Console.Write(table);
        return summary.Interrupted ? 130 : 0;
    }

    /// <summary>The plan of a new run: the options given, with this command's defaults.</summary>
    public static Plan PlanFromSettings(Settings s)
    {
        var config = Presets.Resolve(s.Model ?? "crate-fmnist");
        if (s.NormPixLoss) config = config with { NormPixLoss = true };
        int epochs = s.EpochsOrDefault;
        var options = new PretrainOptions
        {
            Epochs = epochs, BatchSize = s.Batch, AccumIter = s.AccumIter ?? 1, Blr = s.BlrOrDefault, Lr = s.Lr, MinLr = s.MinLrOrDefault,
            WarmupEpochs = s.WarmupEpochs ?? Math.Min(1, epochs / 8.0), WeightDecay = s.WeightDecayOrDefault, MaskRatio = s.MaskRatio ?? 0.75,
            ClipGrad = s.ClipGrad, Seed = s.SeedOrDefault, Device = s.Device, Precision = MatmulPrecision.Resolve(s.PrecisionOrDefault, s.Device),
            CheckpointEvery = s.CheckpointEvery ?? 1, CheckpointMinutes = s.CheckpointMinutes ?? 10, EvalImages = s.EvalImages ?? 2000,
            MaxSteps = s.MaxSteps, LogEvery = s.LogEvery ?? 20,
        }.Validate();
        return new Plan(config, options, new RunDataSource(s.DataSpec, s.DataDir, s.Limit, s.SkipBadImages, s.MinCropScaleOrDefault), null);
    }

    /// <summary>
    /// The plan of a resumed run: the model, data and training options recorded in its config.json. An option given again
    /// must agree with the recorded one; only this process's own settings (device, workers, threads, --max-steps, checkpoint
    /// and log intervals) may change.
    /// </summary>
    public static Plan PlanFromRun(Settings s, SavedRunConfig run)
    {
        var t = run.Training;
        void Agree(string option, object? given, object? recorded)
        {
            if (given is null || Equals(given, recorded)) return;
            throw new ArgumentException($"{option} {Show(given)} differs from the run's {Show(recorded)} ({run.Path})");
        }
        if (s.Model is { } model)
        {
            var given = Presets.Resolve(model);
            if (given with { Name = "", NormPixLoss = run.Model.NormPixLoss } != run.Model with { Name = "" })
                throw new ArgumentException($"--model {model} differs from the run's model '{run.Model.Name}' ({run.Path})");
        }
        Agree("--norm-pix-loss", s.NormPixLoss ? true : null, run.Model.NormPixLoss);
        Agree("--epochs", s.Epochs, t.Epochs);
        Agree("--batch-size", s.BatchSize, t.BatchSize);
        Agree("--accum-iter", s.AccumIter, t.AccumIter);
        Agree("--blr", s.Blr, t.Blr);
        Agree("--lr", s.Lr, t.Lr);
        Agree("--min-lr", s.MinLr, t.MinLr);
        Agree("--warmup-epochs", s.WarmupEpochs, t.WarmupEpochs);
        Agree("--weight-decay", s.WeightDecay, t.WeightDecay);
        Agree("--mask-ratio", s.MaskRatio, t.MaskRatio);
        Agree("--clip-grad", s.ClipGrad, t.ClipGrad);
        Agree("--seed", s.Seed, t.Seed);
        Agree("--precision", s.Precision is { } p ? MatmulPrecision.Resolve(p, s.Device) : null, t.Precision);
        Agree("--eval-images", s.EvalImages, t.EvalImages);
        if (s.Minutes is { } minutes && minutes != (t.Calibration?.Minutes ?? 0))
            throw new ArgumentException($"--minutes {Show(minutes)} differs from the run's {Show(t.Calibration?.Minutes)} ({run.Path}); a resumed run keeps its recorded length");
        var source = run.DataSource;
        if (source is not null)
        {
            Agree("--data", s.Data, source.Spec);
            Agree("--data-dir", s.DataDir, source.DataDir);
            Agree("--limit", s.Limit, source.Limit);
            Agree("--skip-bad-images", s.SkipBadImages ? true : null, source.SkipBadImages);
            Agree("--min-crop-scale", s.MinCropScale, source.MinCropScale);
        }
        var options = t with
        {
            Device = s.Device, MaxSteps = s.MaxSteps, CheckpointEvery = s.CheckpointEvery ?? t.CheckpointEvery,
            CheckpointMinutes = s.CheckpointMinutes ?? t.CheckpointMinutes, LogEvery = s.LogEvery ?? t.LogEvery,
        };
        // Runs whose config.json predates the recorded data source take the data options as given.
        source ??= new RunDataSource(s.DataSpec, s.DataDir, s.Limit, s.SkipBadImages, s.MinCropScaleOrDefault);
        return new Plan(run.Model, options.Validate(), source, run.Path);
    }

    private static string Show(object? value) => value switch
    {
        null => "none",
        bool b => b ? "on" : "off",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "none",
    };

    /// <summary>
    /// Measures the training throughput and fits the run into <paramref name="minutes"/> (less the calibration's own
    /// time): the returned options record the calibration and, when the epochs do not fit, the shorter length with its
    /// warm-up (the given --warmup-epochs, else min(1, epochs / 8) of the shortened run).
    /// </summary>
    public static PretrainOptions Calibrate(Pretrainer probe, PretrainOptions options, double? warmupEpochs, double minutes,
        int stepsPerEpoch, int evalImages, Reporter ui)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var (ips, timed) = probe.MeasureThroughput();
        long requested = (long)stepsPerEpoch * options.Epochs;
        long steps = PretrainBudget.Steps(minutes * 60 - clock.Elapsed.TotalSeconds, ips, options.BatchSize, stepsPerEpoch, options.Epochs, evalImages);
        steps = Math.Max(options.AccumIter, steps - steps % options.AccumIter);    // end on an optimizer update
        var calibration = new PretrainCalibration
        {
            Minutes = minutes, ImagesPerSecond = Math.Round(ips, 2), TimedSteps = timed, RequestedSteps = requested, Steps = Math.Min(steps, requested),
            Cpu = CrateMae.Hosting.CpuDescription.Current,
        };
        string budget = $"{Show(minutes)} min";
        if (steps >= requested)
        {
            ui.Info($"calibration: {ips:F0} img/s over {timed} timed steps → all {requested:N0} steps ({options.Epochs} epochs) fit in {budget}");
            return options with { Calibration = calibration };
        }
        double epochs = steps / (double)stepsPerEpoch;
        ui.Info($"calibration: {ips:F0} img/s over {timed} timed steps → {steps:N0} of {requested:N0} steps ({epochs:F2} of {options.Epochs} epochs) " +
                $"fit in {budget}; warm-up + cosine over {steps:N0} steps");
        return (options with
        {
            Epochs = (int)((steps + stepsPerEpoch - 1) / stepsPerEpoch), TotalSteps = steps, Calibration = calibration,
            WarmupEpochs = warmupEpochs ?? Math.Min(1, epochs / 8),
        }).Validate();
    }

    private static string Fmt(double? v) => v is { } x ? x.ToString("F4") : "-";

    private static PretrainSummary TrainWithProgress(Pretrainer trainer, string? resume, Reporter ui, CancellationToken token)
    {
        if (ui.Json || !AnsiConsole.Profile.Capabilities.Interactive)
        {
            var last = DateTime.MinValue;
            trainer.Progress += p =>
            {
                if ((DateTime.UtcNow - last).TotalSeconds < 15) return;
                last = DateTime.UtcNow;
                ui.Console.WriteLine($"epoch {p.Epoch}/{p.Epochs} step {p.StepInEpoch}/{p.StepsPerEpoch} loss {p.Loss:F4} lr {p.Lr:G3} {p.ImagesPerSecond:F0} img/s eta {p.Eta:hh\\:mm\\:ss}");
            };
            return trainer.Train(resume, token);
        }
        PretrainSummary? result = null;
        AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(),
                     new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask("starting", maxValue: 1);
                trainer.Progress += p =>
                {
                    task.MaxValue = p.TotalSteps;
                    task.Value = p.GlobalStep;
                    task.Description = $"epoch {p.Epoch}/{p.Epochs} · step {p.StepInEpoch}/{p.StepsPerEpoch} · loss {p.Loss:F4} · lr {p.Lr:G3} · {p.ImagesPerSecond:F0} img/s";
                };
                result = trainer.Train(resume, token);
            });
        return result!;
    }
}
