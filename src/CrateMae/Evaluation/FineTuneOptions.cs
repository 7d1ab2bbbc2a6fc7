using CrateMae.Models;
using CrateMae.Training;

namespace CrateMae.Evaluation;

/// <summary>
/// Settings of <see cref="FineTuner"/>: MAE's fine-tuning recipe (AdamW β 0.9/0.999, weight decay 0.05, layer-wise lr
/// decay 0.75, per-iteration warm-up + cosine, lr = blr × batch / 256) scaled for small CPU runs, starting from the
/// linear probe (LP-FT).
/// </summary>
/// <remarks>
/// The defaults train on the images as the probe saw them: no crop, no flip, no label smoothing. Each of MAE's
/// augmentations moves the inputs or the targets away from what the probe head was fitted on, and in short runs the
/// encoder pays for that: on Fashion-MNIST one epoch from the probe's 75.9 % ended at 68.6 % with crops of scale 0.6–1,
/// flips and smoothing 0.1, and at 76.9 % with none of them (docs/recipes.md). Longer runs may want them back
/// (<c>--min-crop-scale</c>, <c>--flip</c>, <c>--smoothing</c>, <c>--mixup</c>).
/// </remarks>
public sealed record FineTuneOptions
{
    public int Epochs { get; init; } = 10;
    public int BatchSize { get; init; } = 128;

    /// <summary>Base lr (MAE: 5e-4 for ViT-B with batch 1024; small models tolerate more).</summary>
    public double Blr { get; init; } = 1e-3;

    /// <summary>Absolute peak lr; overrides <see cref="Blr"/>.</summary>
    public double? Lr { get; init; }

    public double MinLr { get; init; } = 1e-6;
    public double WarmupEpochs { get; init; } = 1;
    public double WeightDecay { get; init; } = 0.05;
    public double LayerDecay { get; init; } = 0.75;
    public double LabelSmoothing { get; init; }

    /// <summary>Mixup α (MAE: 0.8); 0 turns mixup off.</summary>
    public double MixupAlpha { get; init; }

    /// <summary>Smallest RandomResizedCrop area for the training images (flips are always on).</summary>
    public double MinCropScale { get; init; } = 1.0;

    /// <summary>Probability of a horizontal flip of a training image (MAE: 0.5).</summary>
    public double FlipProbability { get; init; }

    public double? ClipGrad { get; init; }

    /// <summary>Where the head starts: the frozen encoder's linear probe (LP-FT, default) or a random init (MAE's).</summary>
    public HeadStart Head { get; init; } = HeadStart.Probe;

    /// <summary>Std of the head's truncated-normal init (MAE: 2e-5) when <see cref="Head"/> is <see cref="HeadStart.Random"/>.</summary>
    public double HeadInitStd { get; init; } = 2e-5;

    public int Seed { get; init; }

    /// <summary>
    /// Fraction of the training images held out, stratified by class and drawn with <see cref="Seed"/>
    /// (<see cref="FineTuner.HoldOut"/>), to be scored after every epoch and to choose the best classifier; 0 = none.
    /// </summary>
    public double ValFraction { get; init; }

    /// <summary><c>fp32</c> or <c>bf16</c> matrix products (<see cref="MatmulPrecision"/>).</summary>
    public string Precision { get; init; } = "fp32";

    public string Device { get; init; } = "cpu";

    /// <summary>Stop after this many optimiser steps in total (quick checks); the run counts as interrupted.</summary>
    public int? MaxSteps { get; init; }

    /// <summary>Write the classifier checkpoints (last and best).</summary>
    public bool SaveCheckpoints { get; init; } = true;

    /// <summary>The peak lr.</summary>
    public double AbsoluteLr => Lr ?? LrSchedule.ScaledLr(Blr, BatchSize);

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad option (as its CLI flag).</summary>
    public FineTuneOptions Validate()
    {
        if (Epochs < 1) throw new ArgumentException($"--epochs: expected an integer ≥ 1, got {Epochs}");
        if (BatchSize < 1) throw new ArgumentException($"--batch-size: expected an integer ≥ 1, got {BatchSize}");
        if (MixupAlpha > 0 && BatchSize % 2 != 0) throw new ArgumentException($"--batch-size {BatchSize}: mixup needs an even batch size");
        if (!(Blr > 0) || !double.IsFinite(Blr)) throw new ArgumentException($"--blr: expected a positive number, got {Blr}");
        if (Lr is { } lr && (!(lr > 0) || !double.IsFinite(lr))) throw new ArgumentException($"--lr: expected a positive number, got {lr}");
        if (!(MinLr >= 0) || MinLr > AbsoluteLr) throw new ArgumentException($"--min-lr: expected 0 ≤ min-lr ≤ lr ({AbsoluteLr:G3}), got {MinLr}");
        if (!(WarmupEpochs >= 0) || WarmupEpochs > Epochs) throw new ArgumentException($"--warmup-epochs: expected 0 ≤ warm-up ≤ epochs, got {WarmupEpochs}");
        if (!(WeightDecay >= 0) || !double.IsFinite(WeightDecay)) throw new ArgumentException($"--weight-decay: expected a number ≥ 0, got {WeightDecay}");
        if (!(LayerDecay > 0 && LayerDecay <= 1)) throw new ArgumentException($"--layer-decay: expected a number in (0, 1], got {LayerDecay}");
        if (!(LabelSmoothing >= 0 && LabelSmoothing < 1)) throw new ArgumentException($"--smoothing: expected a number in [0, 1), got {LabelSmoothing}");
        if (!(MixupAlpha >= 0) || !double.IsFinite(MixupAlpha)) throw new ArgumentException($"--mixup: expected a number ≥ 0, got {MixupAlpha}");
        if (!(MinCropScale > 0 && MinCropScale <= 1)) throw new ArgumentException($"--min-crop-scale: expected a number in (0, 1], got {MinCropScale}");
        if (!(FlipProbability >= 0 && FlipProbability <= 1)) throw new ArgumentException($"--flip: expected a probability in [0, 1], got {FlipProbability}");
        if (ClipGrad is { } c && !(c > 0)) throw new ArgumentException($"--clip-grad: expected a positive number, got {c}");
        if (!(HeadInitStd >= 0) || !double.IsFinite(HeadInitStd)) throw new ArgumentException($"--head-init-std: expected a number ≥ 0, got {HeadInitStd}");
        if (!Enum.IsDefined(Head)) throw new ArgumentException($"--head: expected 'probe' or 'random', got {Head}");
        if (!(ValFraction >= 0 && ValFraction < 1)) throw new ArgumentException($"--val-fraction: expected a number in [0, 1), got {ValFraction}");
        if (MaxSteps is < 1) throw new ArgumentException($"--max-steps: expected an integer ≥ 1, got {MaxSteps}");
        MatmulPrecision.Parse(Precision);
        return this;
    }
}
