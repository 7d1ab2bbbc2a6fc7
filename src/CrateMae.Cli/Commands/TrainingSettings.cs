using System.ComponentModel;
using Spectre.Console;
using Spectre.Console.Cli;

namespace CrateMae.Cli.Commands;

/// <summary>The defaults of the optimiser and schedule options that differ between pretrain and finetune.</summary>
public sealed record TrainingDefaults(int Epochs, int BatchSize, double Blr, double MinLr, double MinCropScale, string Precision);

/// <summary>
/// The optimiser and schedule options of the training commands (pretrain, finetune). Every option is null when not
/// given, so a command can tell a given option from its default (<c>pretrain --resume</c> checks the given ones against
/// the run's config.json).
/// </summary>
public abstract class TrainingSettings : DataSettings
{
    [CommandOption("--force")] [Description("Start even when the memory estimate exceeds the memory available (default: refuse in one line).")]
    public bool Force { get; init; }

    [CommandOption("--epochs <N>")]
    [Description("Epochs (default: pretrain 2, finetune 5).")]
    public int? Epochs { get; init; }

    [CommandOption("--blr <LR>")]
    [Description("Base lr; lr = blr × effective batch / 256 (default: pretrain 1.5e-3, i.e. MAE's 1.5e-4 × 10 for small CPU models; finetune 1e-3).")]
    public double? Blr { get; init; }

    [CommandOption("--lr <LR>")]
    [Description("Absolute peak lr (overrides --blr).")]
    public double? Lr { get; init; }

    [CommandOption("--min-lr <LR>")]
    [Description("Floor of the cosine schedule (default: pretrain 0, finetune 1e-6).")]
    public double? MinLr { get; init; }

    [CommandOption("--warmup-epochs <N>")]
    [Description("Linear warm-up epochs (default: pretrain min(1, epochs / 8), finetune min(1, epochs / 10)).")]
    public double? WarmupEpochs { get; init; }

    [CommandOption("--weight-decay <WD>")]
    [Description("AdamW weight decay on weight matrices and tokens (default 0.05).")]
    public double? WeightDecay { get; init; }

    [CommandOption("--clip-grad <NORM>")]
    [Description("Clip the global gradient norm (default: off).")]
    public double? ClipGrad { get; init; }

    [CommandOption("--min-crop-scale <S>")]
    [Description("Smallest RandomResizedCrop area of the training images (default: pretrain 0.35 for 28-px data, MAE 0.2; finetune 1 = no crop).")]
    public double? MinCropScale { get; init; }

    [CommandOption("--seed <N>")]
    [Description("Seed of the initialisation, data order, augmentation and masks (default 0).")]
    public int? Seed { get; init; }

    [CommandOption("--precision <P>")]
    [Description("Matrix products: fp32, bf16 (on CPUs with AMX/AVX512-BF16) or auto (bf16 there, else fp32) (default: pretrain auto, finetune fp32).")]
    public string? Precision { get; init; }

    [CommandOption("--max-steps <N>")]
    [Description("Stop after N steps in total (quick checks; the schedule still spans every epoch).")]
    public int? MaxSteps { get; init; }

    /// <summary>This command's defaults.</summary>
    protected abstract TrainingDefaults Defaults { get; }

    protected override int DefaultBatchSize => Defaults.BatchSize;

    public int EpochsOrDefault => Epochs ?? Defaults.Epochs;
    public double BlrOrDefault => Blr ?? Defaults.Blr;
    public double MinLrOrDefault => MinLr ?? Defaults.MinLr;
    public double WeightDecayOrDefault => WeightDecay ?? 0.05;
    public double MinCropScaleOrDefault => MinCropScale ?? Defaults.MinCropScale;
    public int SeedOrDefault => Seed ?? 0;
    public string PrecisionOrDefault => Precision ?? Defaults.Precision;

    public override ValidationResult Validate()
    {
        if (Epochs is < 1) return ValidationResult.Error("--epochs: expected an integer ≥ 1");
        if (MaxSteps is < 1) return ValidationResult.Error("--max-steps: expected an integer ≥ 1");
        return base.Validate();
    }
}
