namespace CrateMae.Evaluation;

/// <summary>
/// End-to-end fine-tuning outcome (JSON <c>"kind": "fine_tune"</c>); see <see cref="FineTuner"/>. <c>top1</c> is the
/// test accuracy after the last epoch, <c>best_top1</c> the best over the epochs. With a validation split
/// (<c>val_fraction</c> &gt; 0) the best classifier is the epoch of <c>best_val_top1</c>, so the test split chooses nothing;
/// without one it is the epoch of <c>best_top1</c>.
/// </summary>
public sealed record FineTuneResult : EvaluationResult
{
    /// <summary><c>probe</c> (LP-FT: the head started as the frozen encoder's linear probe) or <c>random</c>; null when not recorded.</summary>
    public string? HeadStart { get; init; }

    /// <summary>The probe's L2 strength λ (chosen on a validation split) when the head started as the probe.</summary>
    public double? ProbeReg { get; init; }

    /// <summary>Test top-1 before the first step (the linear probe's, when the head started as the probe); null when not recorded.</summary>
    public double? StartTop1 { get; init; }

    /// <summary>Best test top-1 over the evaluated epochs.</summary>
    public required double BestTop1 { get; init; }

    /// <summary>Epoch (1-based) of <see cref="BestTop1"/>.</summary>
    public required int BestEpoch { get; init; }

    /// <summary>Fraction of the training images held out for validation (0: none); null when not recorded.</summary>
    public double? ValFraction { get; init; }

    /// <summary>Held-out validation images (0 without a validation split); not in <see cref="EvaluationResult.TrainSize"/>.</summary>
    public long? ValImages { get; init; }

    /// <summary>Validation top-1 before the first step; null without a validation split.</summary>
    public double? StartValTop1 { get; init; }

    /// <summary>Best validation top-1 over the evaluated epochs; null without a validation split.</summary>
    public double? BestValTop1 { get; init; }

    /// <summary>Epoch (1-based) of <see cref="BestValTop1"/>, the epoch of <see cref="BestCheckpoint"/>; null without a validation split.</summary>
    public int? BestValEpoch { get; init; }

    /// <summary>Test cross-entropy (no smoothing) after the last epoch.</summary>
    public required double TestLoss { get; init; }

    /// <summary>Epochs completed.</summary>
    public required int Epochs { get; init; }

    /// <summary>Epochs asked for.</summary>
    public required int EpochsPlanned { get; init; }

    /// <summary>Whether the run stopped early (Ctrl-C / SIGTERM / max steps) after <see cref="Epochs"/> epochs.</summary>
    public required bool Interrupted { get; init; }

    public required int BatchSize { get; init; }

    /// <summary>Base lr; the peak lr is blr × batch / 256 unless given directly.</summary>
    public required double Blr { get; init; }

    /// <summary>Peak lr of the warm-up + cosine schedule (before layer decay).</summary>
    public required double Lr { get; init; }

    public required double WarmupEpochs { get; init; }
    public required double LayerDecay { get; init; }
    public required double WeightDecay { get; init; }
    public required double LabelSmoothing { get; init; }

    /// <summary>Mixup Beta(α, α) concentration; 0 = no mixup.</summary>
    public required double MixupAlpha { get; init; }

    /// <summary>Smallest RandomResizedCrop area of the training augmentation (with horizontal flips).</summary>
    public required double MinCropScale { get; init; }

    /// <summary>Probability of a horizontal flip in the training augmentation; null when not recorded.</summary>
    public double? FlipProbability { get; init; }

    /// <summary><c>fp32</c> or <c>bf16</c> matrix products.</summary>
    public required string Precision { get; init; }

    /// <summary>Test accuracy per class of the final model.</summary>
    public required IReadOnlyList<ClassAccuracy> PerClass { get; init; }

    /// <summary>One entry per completed epoch.</summary>
    public required IReadOnlyList<FineTuneEpoch> History { get; init; }

    /// <summary>The final classifier (<see cref="ClassifierCheckpoint"/>), or null when none was written.</summary>
    public required string? Checkpoint { get; init; }

    /// <summary>The classifier of the best epoch: by validation top-1 with a validation split, else by test top-1.</summary>
    public required string? BestCheckpoint { get; init; }

    /// <summary>Confusion-matrix PNG of the final model.</summary>
    public required string? ConfusionPng { get; init; }
}

/// <summary>Test accuracy of one class (JSON <c>{"class", "name", "support", "correct", "top1"}</c>).</summary>
/// <param name="Class">Class index.</param>
/// <param name="Name">Class name from the dataset.</param>
/// <param name="Support">Test images of the class.</param>
/// <param name="Correct">Of those, predicted correctly.</param>
/// <param name="Top1">Correct / support (null when the class has no test images).</param>
public sealed record ClassAccuracy(int Class, string Name, long Support, long Correct, double? Top1);

/// <summary>
/// One fine-tuning epoch (JSON <c>{"epoch", "train_loss", "test_loss", "test_top1", "lr", "seconds", "val_loss", "val_top1"}</c>).
/// </summary>
/// <param name="Epoch">1-based epoch.</param>
/// <param name="TrainLoss">Mean training loss (label-smoothed or mixup soft-target cross-entropy).</param>
/// <param name="TestLoss">Test cross-entropy without smoothing.</param>
/// <param name="TestTop1">Test top-1.</param>
/// <param name="Lr">Peak-scaled lr at the end of the epoch.</param>
/// <param name="Seconds">Wall seconds of the epoch (training, test and validation pass).</param>
/// <param name="ValLoss">Cross-entropy without smoothing on the held-out validation images; null without a validation split.</param>
/// <param name="ValTop1">Validation top-1; null without a validation split.</param>
public sealed record FineTuneEpoch(int Epoch, double TrainLoss, double TestLoss, double TestTop1, double Lr, double Seconds,
    double? ValLoss = null, double? ValTop1 = null);
