using System.ComponentModel;
using System.Globalization;
using System.Runtime.InteropServices;
using CrateMae.Data;
using CrateMae.Evaluation;
using CrateMae.IO;
using CrateMae.Models;
using CrateMae.Training;
using Spectre.Console;
using Spectre.Console.Cli;
using TorchSharp;

namespace CrateMae.Cli.Commands;

/// <summary>
/// <c>crate-mae finetune --checkpoint C</c>: the encoder plus a linear head on the patch-token mean, the head started as
/// the frozen encoder's linear probe (LP-FT), trained end to end (AdamW with layer-wise lr decay, warm-up + cosine;
/// optional crops, flips, label smoothing and mixup; see <see cref="FineTuneOptions"/> for why they are off by default). Writes an output folder (<c>-o|--output</c>, default EVAL_DIR/finetune, or finetune-random for the floor;
/// EVAL_DIR = eval/ next to the checkpoint) with finetune.json, the classifier checkpoints, a confusion-matrix PNG and metrics.
/// </summary>
public sealed class FinetuneCommand : Command<FinetuneCommand.Settings>
{
    public sealed class Settings : TrainingSettings
    {
        [CommandOption("-c|--checkpoint <PATH>")]
        [Description("Pre-training run folder or checkpoint (.ckpt, .pth, .safetensors).")]
        public string? Checkpoint { get; init; }

        [CommandOption("--floor <FLOOR>")]
        [Description("'random': fine-tune a randomly initialised encoder of the same config (the from-scratch floor).")]
        public string? Floor { get; init; }

        [CommandOption("--layer-decay <D>")] [Description("Layer-wise lr decay: block i gets lr × D^(depth + 1 − (i + 1)) (default 0.75).")]
        public double LayerDecay { get; init; } = 0.75;

        [CommandOption("--smoothing <EPS>")] [Description("Label smoothing (default 0; MAE: 0.1).")]
        public double Smoothing { get; init; }

        [CommandOption("--mixup <ALPHA>")] [Description("Mixup Beta(α, α) (MAE: 0.8); default 0 = off.")]
        public double Mixup { get; init; }

        [CommandOption("--flip <P>")] [Description("Probability of a horizontal flip of a training image (default 0; MAE: 0.5).")]
        public double Flip { get; init; }

        [CommandOption("--head <START>")]
        [Description("Where the head starts: 'probe' (default; LP-FT: the frozen encoder's linear probe, so fine-tuning starts at the probe's accuracy) or 'random' (MAE's truncated-normal init).")]
        public string Head { get; init; } = "probe";

        [CommandOption("--head-init-std <STD>")] [Description("Std of the random head's truncated-normal init (default 2e-5, MAE's).")]
        public double HeadInitStd { get; init; } = 2e-5;

        [CommandOption("--val-fraction <F>")]
        [Description("Hold out this fraction of the training images (after --limit; stratified, drawn with --seed) as a validation split, scored every epoch and used to choose classifier-best (default 0: none, and the test split chooses).")]
        public double ValFraction { get; init; }

        public HeadStart HeadStartOption => Head.Trim().ToLowerInvariant() switch
        {
            "probe" or "linear-probe" or "lp" => HeadStart.Probe,
            "random" => HeadStart.Random,
            var h => throw new ArgumentException($"--head {h}: expected 'probe' (LP-FT) or 'random'"),
        };

        protected override TrainingDefaults Defaults { get; } =
            new(Epochs: 5, BatchSize: 128, Blr: 1e-3, MinLr: 1e-6, MinCropScale: 1.0, Precision: "fp32");

        public FineTuneOptions Options() => new FineTuneOptions
        {
            Epochs = EpochsOrDefault, BatchSize = Batch, Blr = BlrOrDefault, Lr = Lr, MinLr = MinLrOrDefault,
            WarmupEpochs = WarmupEpochs ?? Math.Min(1.0, EpochsOrDefault / 10.0), WeightDecay = WeightDecayOrDefault, LayerDecay = LayerDecay,
            LabelSmoothing = Smoothing, MixupAlpha = Mixup, MinCropScale = MinCropScaleOrDefault, FlipProbability = Flip, ClipGrad = ClipGrad,
            Head = HeadStartOption, HeadInitStd = HeadInitStd, Seed = SeedOrDefault, ValFraction = ValFraction, Precision = PrecisionOrDefault,
            Device = Device, MaxSteps = MaxSteps,
        }.Validate();
    }

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        s.Apply();
        var ui = new Reporter(s.Json);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        int interrupts = 0;
        void Interrupt()
        {
            if (++interrupts > 1) Environment.Exit(130);
            ui.Console.MarkupLine("[yellow]stopping after this step; the test split is scored and the results written (Ctrl-C again quits at once)[/]");
            cts.Cancel();
        }
        ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; Interrupt(); };
        Console.CancelKeyPress += onCancel;
        using var onTerm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, ctx => { ctx.Cancel = true; Interrupt(); });
        FineTuneResult result;
        try
        {
            result = Run(s, ui, cts.Token);
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
        if (s.Json)
        {
            ui.WriteJson(result.ToJson());
            return result.Interrupted && cts.IsCancellationRequested ? 130 : 0;
        }
        Print(ui, result);
        return result.Interrupted && cts.IsCancellationRequested ? 130 : 0;
    }

    /// <summary>The whole command without the final printout (used by the tests).</summary>
    public static FineTuneResult Run(Settings s, Reporter ui, CancellationToken cancellationToken = default)
    {
        var options = s.Options();
        bool random = s.Floor?.Trim().ToLowerInvariant() switch
        {
            null => false,
            "random" or "random-init" or "scratch" => true,
            var f => throw new ArgumentException($"--floor {f}: fine-tuning supports only 'random' (from scratch)"),
        };
        if (s.Checkpoint is null && !(random && s.Model is not null))
            throw new ArgumentException("--checkpoint: required (a run folder or checkpoint), or --model M --floor random --output DIR");
        string? checkpointPath = s.Checkpoint is null ? null : Path.GetFullPath(RunFolder.ResolveCheckpoint(s.Checkpoint));
        var output = s.Output ?? (checkpointPath is null
            ? throw new ArgumentException("--output: required when fine-tuning from --model without a checkpoint")
            : EvalFiles.FineTuneDir(EvalFiles.EvalDirFor(checkpointPath), random ? EvalFiles.RandomFloor : null));

        using var loaded = checkpointPath is null ? null : ModelSource.Load(checkpointPath, s.Model, s.Device);
        var config = loaded?.Model.Config ?? Presets.Resolve(s.Model!);
        var normalization = loaded?.Normalization;
        string name = random ? $"{config.Name} (random init, seed {options.Seed})" : config.Name;

        var request = s.Request((ulong)options.Seed) with { MinCropScale = options.MinCropScale, FlipProbability = options.FlipProbability, Normalization = normalization };
        var trainSet = DataSetup.Open(request, DataSplit.Train);
        var testSet = DataSetup.Open(request, DataSplit.Test);
        if (request.EffectiveSpec(DataSplit.Train) == request.EffectiveSpec(DataSplit.Test))
            throw new ArgumentException($"--data {s.DataSpec}: names one split, but fine-tuning trains on the train split and scores the test split; " +
                                        "leave the ':train' / ':test' suffix out");
        if (trainSet.NumClasses < 2)
            throw new ArgumentException($"--data {s.DataSpec}: {trainSet.Name} has no class labels (an image folder needs one sub-folder per class)");
        int trainImages = Math.Min(trainSet.Count, s.Limit ?? int.MaxValue);
        var (fitSet, valSet) = options.ValFraction > 0
            ? FineTuner.HoldOut(trainSet, trainImages, options.ValFraction, options.Seed)
            : (trainSet, (IImageDataset?)null);
        using var train = new LoaderBatchSource(DataSetup.Loader(request, fitSet, config, train: true, dropLast: true));
        using var test = new LoaderBatchSource(DataSetup.Loader(request, testSet, config, train: false));
        using var probeTrain = options.Head == HeadStart.Probe ? new LoaderBatchSource(DataSetup.Loader(request, fitSet, config, train: false)) : null;
        using var validation = valSet is null ? null : new LoaderBatchSource(DataSetup.Loader(request, valSet, config, train: false));
        string data = $"{request.EffectiveSpec(DataSplit.Train)} → {request.EffectiveSpec(DataSplit.Test)}" +
                      (s.Limit is { } n ? $" (first {n:N0} images of each)" : "");

        bool bf16 = options.Precision == "bf16";
        int fitImages = trainImages - (valSet?.Count ?? 0);
        long probeImages = options.Head == HeadStart.Probe ? fitImages : 0;
        if (!s.Force) MemoryEstimate.EnsureFits("finetune", MemoryEstimate.FineTuning(config, options.BatchSize, bf16, probeImages), options.BatchSize, bf16);
        using var scratch = random ? FeatureProvider.CreateRandom(config, options.Seed, s.Device) : null;
        var encoder = scratch ?? loaded!.Model;
        using var writer = FolderLock.Acquire(output, "crate-mae finetune");   // one writer per output folder
        var tuner = new FineTuner(options, train, test, trainSet.ClassNames, output, probeTrain, validation);
        var counts = ParameterCount.Of(config);
        string held = valSet is null ? "" : $" of {trainImages:N0}, {valSet.Count:N0} held out for validation";
        ui.Console.MarkupLineInterpolated(
            $"fine-tuning [bold]{name}[/] ({counts.EncoderTrainable:N0} encoder parameters) on [bold]{trainSet.Name}[/] ({fitImages:N0} images{held}, test {Math.Min(testSet.Count, s.Limit ?? int.MaxValue):N0})");
        ui.Info($"{options.Epochs} epochs × {train.StepsPerEpoch} steps of {options.BatchSize}, lr {options.AbsoluteLr:G3} (layer decay {options.LayerDecay}), " +
                $"{(options.Head == HeadStart.Probe ? "head from the linear probe" : "random head")}, " +
                $"{(options.MixupAlpha > 0 ? $"mixup {options.MixupAlpha}, " : "")}{options.Precision} → {tuner.OutputDir}");
        tuner.Message += m => ui.Info(m);
        var last = DateTime.MinValue;
        tuner.Progress += p =>
        {
            if ((DateTime.UtcNow - last).TotalSeconds < 15) return;
            last = DateTime.UtcNow;
            ui.Info($"epoch {p.Epoch}/{p.Epochs} step {p.StepInEpoch}/{p.StepsPerEpoch} loss {p.Loss:F4} lr {p.Lr:G3} {p.ImagesPerSecond:F0} img/s eta {p.Eta:hh\\:mm\\:ss}");
        };
        return tuner.Run(encoder, name, random ? null : checkpointPath, data, normalization, cancellationToken);
    }

    private static void Print(Reporter ui, FineTuneResult r)
    {
        bool validated = r.BestValEpoch is not null;
        var history = new Table().Title("Fine-tuning").AddColumns("epoch", "train loss", "test loss", "test top-1");
        if (validated) history.AddColumns("val loss", "val top-1");
        history.AddColumns("lr", "seconds");
        foreach (var e in r.History)
        {
            var row = new List<string>
            {
                e.Epoch.ToString(CultureInfo.InvariantCulture), e.TrainLoss.ToString("F4", CultureInfo.InvariantCulture),
                e.TestLoss.ToString("F4", CultureInfo.InvariantCulture), $"{e.TestTop1 * 100:F2} %",
            };
            if (validated) row.AddRange([e.ValLoss?.ToString("F4", CultureInfo.InvariantCulture) ?? "-", e.ValTop1 is { } v ? $"{v * 100:F2} %" : "-"]);
            row.AddRange([e.Lr.ToString("G3", CultureInfo.InvariantCulture), e.Seconds.ToString("F0", CultureInfo.InvariantCulture)]);
            history.AddRow(row.ToArray());
        }
        ui.Console.Write(history);
        var perClass = new Table().Title("Per-class test accuracy (final model)").AddColumns("class", "name", "support", "correct", "top-1");
        foreach (var c in r.PerClass)
            perClass.AddRow(c.Class.ToString(CultureInfo.InvariantCulture), Markup.Escape(c.Name), c.Support.ToString("N0", CultureInfo.InvariantCulture),
                c.Correct.ToString("N0", CultureInfo.InvariantCulture), c.Top1 is { } t ? $"{t * 100:F2} %" : "-");
        ui.Console.Write(perClass);
        var wall = TimeSpan.FromSeconds(r.Seconds).ToString(@"hh\:mm\:ss", CultureInfo.InvariantCulture);
        string chosen = r.BestValEpoch is { } epoch
            ? $"; best validation top-1 {r.BestValTop1 * 100:F2} % at epoch {epoch} on {r.ValImages:N0} held-out images (classifier-best)"
            : "";
        ui.Console.MarkupLineInterpolated(
            $"[bold]{r.Model}[/]: start {r.StartTop1 * 100 ?? double.NaN:F2} % ({r.HeadStart} head), last test top-1 [bold]{r.Top1 * 100:F2} %[/], best {r.BestTop1 * 100:F2} % (epoch {r.BestEpoch}) after {r.Epochs}/{r.EpochsPlanned} epochs{(r.Interrupted ? " (interrupted)" : "")}, {wall}{chosen}");
        var dir = Path.GetDirectoryName(r.ConfusionPng ?? r.Checkpoint ?? "") ?? "";
        ui.Info($"wrote {Path.Combine(dir, FineTuner.ResultFile)}, {r.ConfusionPng}, {r.Checkpoint ?? "-"}, {r.BestCheckpoint ?? "-"}");
    }
}
