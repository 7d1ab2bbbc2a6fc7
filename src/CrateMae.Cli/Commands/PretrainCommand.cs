using System.ComponentModel;
using System.Runtime.InteropServices;
using CrateMae.Data;
using CrateMae.Models;
using CrateMae.Training;
using Spectre.Console;
using Spectre.Console.Cli;

namespace CrateMae.Cli.Commands;

/// <summary><c>crate-mae pretrain</c>: masked-image pre-training into a run folder.</summary>
public sealed class PretrainCommand : Command<PretrainCommand.Settings>
{
    public sealed class Settings : DataSettings
    {
        [CommandOption("-m|--model <NAME>")]
        [Description("Preset (crate-fmnist default; 'crate-mae info --model list') or JSON config file.")]
        public string Model { get; init; } = "crate-fmnist";

        [CommandOption("-o|--output <DIR>")]
        [Description("Run folder (default runs/<model>).")]
        public string? Output { get; init; }

        [CommandOption("--epochs <N>")] [Description("Epochs (default 2: about 7 minutes for crate-fmnist in bf16 on 2 idle cores).")]
        public int Epochs { get; init; } = 2;

        [CommandOption("-b|--batch-size <N>")] [Description("Images per step (default 128).")]
        public int BatchSize { get; init; } = 128;

        [CommandOption("--accum-iter <N>")] [Description("Gradient accumulation steps (effective batch = batch × N).")]
        public int AccumIter { get; init; } = 1;

        [CommandOption("--blr <LR>")] [Description("Base lr; lr = blr × effective batch / 256 (default 1.5e-4 × 10 = 1.5e-3 for small CPU models).")]
        public double Blr { get; init; } = 1.5e-3;

        [CommandOption("--lr <LR>")] [Description("Absolute lr (overrides --blr).")]
        public double? Lr { get; init; }

        [CommandOption("--min-lr <LR>")] [Description("Floor of the cosine schedule (default 0).")]
        public double MinLr { get; init; }

        [CommandOption("--warmup-epochs <N>")] [Description("Linear warm-up epochs (default min(1, epochs / 8)).")]
        public double? WarmupEpochs { get; init; }

        [CommandOption("--weight-decay <WD>")] [Description("AdamW weight decay on weights and tokens (default 0.05).")]
        public double WeightDecay { get; init; } = 0.05;

        [CommandOption("--mask-ratio <R>")] [Description("Fraction of patches removed (default 0.75).")]
        public double MaskRatio { get; init; } = 0.75;

        [CommandOption("--norm-pix-loss")] [Description("Regress per-patch normalised pixels (overrides the config).")]
        public bool NormPixLoss { get; init; }

        [CommandOption("--clip-grad <NORM>")] [Description("Clip the global gradient norm.")]
        public double? ClipGrad { get; init; }

        [CommandOption("--min-crop-scale <S>")] [Description("Smallest RandomResizedCrop area (MAE 0.2; default 0.35 for 28-px data).")]
        public double MinCropScale { get; init; } = 0.35;

        [CommandOption("--seed <N>")] [Description("Seed for init, data order, augmentation and masks (default 0).")]
        public int Seed { get; init; }

        [CommandOption("--precision <P>")] [Description("fp32, bf16 (matrix products in bfloat16) or auto (default: bf16 on CPUs with AMX/AVX512-BF16, else fp32).")]
        public string Precision { get; init; } = "auto";

        [CommandOption("--checkpoint-every <N>")] [Description("Keep a numbered checkpoint every N epochs (default 1).")]
        public int CheckpointEvery { get; init; } = 1;

        [CommandOption("--checkpoint-minutes <M>")] [Description("Refresh checkpoint-last.ckpt mid-epoch every M minutes (default 10; 0 = off).")]
        public double CheckpointMinutes { get; init; } = 10;

        [CommandOption("--eval-images <N>")] [Description("Test images for the per-epoch masked loss (default 2000; 0 = all).")]
        public int EvalImages { get; init; } = 2000;

        [CommandOption("--max-steps <N>")] [Description("Stop after N steps in total (quick checks).")]
        public int? MaxSteps { get; init; }

        [CommandOption("--log-every <N>")] [Description("Write a metrics line every N steps (default 20).")]
        public int LogEvery { get; init; } = 20;

        [CommandOption("--resume <PATH>")] [Description("Continue from a checkpoint or run folder.")]
        public string? Resume { get; init; }
    }

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        s.Apply();
        var config = Presets.Resolve(s.Model);
        if (s.NormPixLoss) config = config with { NormPixLoss = true };
        var options = new PretrainOptions
        {
            Epochs = s.Epochs, BatchSize = s.BatchSize, AccumIter = s.AccumIter, Blr = s.Blr, Lr = s.Lr, MinLr = s.MinLr,
            WarmupEpochs = s.WarmupEpochs ?? Math.Min(1, s.Epochs / 8.0), WeightDecay = s.WeightDecay, MaskRatio = s.MaskRatio, ClipGrad = s.ClipGrad,
            Seed = s.Seed, Device = s.Device, Precision = MatmulPrecision.Resolve(s.Precision, s.Device), CheckpointEvery = s.CheckpointEvery,
            CheckpointMinutes = s.CheckpointMinutes, EvalImages = s.EvalImages, MaxSteps = s.MaxSteps, LogEvery = s.LogEvery,
        }.Validate();
        RandomMasking.KeepCount(config.NumPatches, options.MaskRatio);
        var output = s.Output ?? (s.Resume is { } r && Directory.Exists(r) ? r : Path.Combine("runs", config.Name));
        if (s.Resume is null && File.Exists(new RunFolder(output).LastCheckpoint))
            throw new ArgumentException($"--output {output} already holds a run; pass --resume {output} to continue it, or choose another --output");

        var request = s.Request(s.BatchSize, (ulong)s.Seed) with { MinCropScale = s.MinCropScale };
        var trainSet = DataSetup.Open(request, DataSplit.Train);
        var testSet = DataSetup.Open(request, DataSplit.Test);
        using var train = new LoaderBatchSource(DataSetup.Loader(request, trainSet, config, train: true, dropLast: true));
        using var test = new LoaderBatchSource(DataSetup.Loader(request with { Limit = null }, testSet, config, train: false));
        var stats = DataSetup.NormalizationFor(request, trainSet, config.InChans);
        var skipped = new[] { trainSet, testSet }.OfType<ImageFolder>().SelectMany(f => f.SkippedFiles).DistinctBy(b => b.Path).ToList();
        var artifacts = new RunArtifacts(stats, trainSet.Name) { SkippedImages = skipped };
        var trainer = new Pretrainer(config, options, train, test, output, artifacts);

        var counts = ParameterCount.Of(config);
        AnsiConsole.MarkupLineInterpolated(
            $"[bold]{config.Name}[/] ({config.Kind}, {counts.Total:N0} parameters) on [bold]{trainSet.Name}[/] ({trainSet.Count:N0} images, test {testSet.Count:N0})");
        AnsiConsole.MarkupLineInterpolated(
            $"{options.Epochs} epochs × {train.StepsPerEpoch} steps of {options.BatchSize}, lr {options.AbsoluteLr:G3}, {options.Precision} → {trainer.Run.Root}");

        if (skipped.Count > 0)
            AnsiConsole.MarkupLineInterpolated(
                $"[yellow]skipped {skipped.Count} unreadable image file(s)[/] (listed in config.json; first: {skipped[0].Reason})");

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        int interrupts = 0;
        void Interrupt()
        {
            if (++interrupts > 1) Environment.Exit(130);
            AnsiConsole.MarkupLine("[yellow]stopping after this step and writing a resumable checkpoint (press Ctrl-C again to quit at once)[/]");
            cts.Cancel();
        }
        ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; Interrupt(); };
        Console.CancelKeyPress += onCancel;
        using var onTerm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, ctx => { ctx.Cancel = true; Interrupt(); });

        PretrainSummary summary;
        try
        {
            trainer.Message += m => AnsiConsole.MarkupLineInterpolated($"[grey]{m}[/]");
            summary = TrainWithProgress(trainer, s.Resume, cts.Token);
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
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
        AnsiConsole.Write(table);
        return summary.Interrupted ? 130 : 0;
    }

    private static string Fmt(double? v) => v is { } x ? x.ToString("F4") : "-";

    private static PretrainSummary TrainWithProgress(Pretrainer trainer, string? resume, CancellationToken token)
    {
        if (!AnsiConsole.Profile.Capabilities.Interactive)
        {
            var last = DateTime.MinValue;
            trainer.Progress += p =>
            {
                if ((DateTime.UtcNow - last).TotalSeconds < 15) return;
                last = DateTime.UtcNow;
                Console.WriteLine($"epoch {p.Epoch}/{p.Epochs} step {p.StepInEpoch}/{p.StepsPerEpoch} loss {p.Loss:F4} lr {p.Lr:G3} {p.ImagesPerSecond:F0} img/s eta {p.Eta:hh\\:mm\\:ss}");
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
