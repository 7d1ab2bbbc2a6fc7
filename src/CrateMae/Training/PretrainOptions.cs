using CrateMae.Models;

namespace CrateMae.Training;

/// <summary>Pre-training hyper-parameters (MAE recipe defaults, spec §6.1) and run-folder settings.</summary>
public sealed record PretrainOptions
{
    public int Epochs { get; init; } = 10;
    public int BatchSize { get; init; } = 128;
    public int AccumIter { get; init; } = 1;
    /// <summary>Base lr; the absolute lr is blr × effective batch / 256 unless <see cref="Lr"/> is given.</summary>
    public double Blr { get; init; } = 1.5e-4;
    public double? Lr { get; init; }
    public double MinLr { get; init; }
    public double WarmupEpochs { get; init; } = 1;
    public double WeightDecay { get; init; } = 0.05;
    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.95;
    public double MaskRatio { get; init; } = 0.75;
    public double? ClipGrad { get; init; }
    public int Seed { get; init; }
    public string Device { get; init; } = "cpu";
    public string Precision { get; init; } = "fp32";
    /// <summary>Write a numbered checkpoint every this many epochs (the latest is always kept in <c>checkpoint-last</c>).</summary>
    public int CheckpointEvery { get; init; } = 1;
    /// <summary>Also refresh <c>checkpoint-last</c> mid-epoch every this many minutes (0 = only at epoch ends).</summary>
    public double CheckpointMinutes { get; init; } = 10;
    public int LogEvery { get; init; } = 20;
    /// <summary>Test images used for the per-epoch masked-patch loss (0 = whole test split).</summary>
    public int EvalImages { get; init; } = 2000;
    /// <summary>Fixed test images shown in the reconstruction grids.</summary>
    public int ReconstructionImages { get; init; } = 8;
    /// <summary>Stop after this many steps in total (for quick checks); null = run all epochs.</summary>
    public int? MaxSteps { get; init; }
    /// <summary>
    /// The run's length in steps when a time budget fixed it (<see cref="PretrainBudget"/>); null = <see cref="Epochs"/> ×
    /// steps per epoch. The last of the <see cref="Epochs"/> epochs ends early at this step, and the warm-up + cosine
    /// schedule ends here.
    /// </summary>
    public long? TotalSteps { get; init; }
    /// <summary>What the time-budget calibration measured and decided (null when the run has no budget).</summary>
    public PretrainCalibration? Calibration { get; init; }

    public int EffectiveBatch => BatchSize * AccumIter;
    public double AbsoluteLr => Lr ?? LrSchedule.ScaledLr(Blr, EffectiveBatch);

    public PretrainOptions Validate()
    {
        void Require(bool ok, string option, string expected)
        {
            if (!ok) throw new ArgumentException($"{option}: expected {expected}");
        }
        Require(Epochs >= 1, "--epochs", "an integer ≥ 1");
        Require(BatchSize >= 1, "--batch-size", "an integer ≥ 1");
        Require(AccumIter >= 1, "--accum-iter", "an integer ≥ 1");
        Require(Blr > 0 && double.IsFinite(Blr), "--blr", "a positive number");
        Require(Lr is null || (Lr > 0 && double.IsFinite(Lr.Value)), "--lr", "a positive number");
        Require(MinLr >= 0, "--min-lr", "a non-negative number");
        Require(WarmupEpochs >= 0, "--warmup-epochs", "a non-negative number");
        Require(WeightDecay >= 0, "--weight-decay", "a non-negative number");
        Require(MaskRatio is >= 0 and < 1, "--mask-ratio", "a number in [0, 1)");
        Require(ClipGrad is null || ClipGrad > 0, "--clip-grad", "a positive number");
        Require(CheckpointEvery >= 1, "--checkpoint-every", "an integer ≥ 1");
        Require(CheckpointMinutes >= 0, "--checkpoint-minutes", "a non-negative number");
        Require(LogEvery >= 1, "--log-every", "an integer ≥ 1");
        Require(MaxSteps is null || MaxSteps >= 1, "--max-steps", "an integer ≥ 1");
        Require(TotalSteps is null || TotalSteps >= 1, "total_steps", "an integer ≥ 1");
        MatmulPrecision.Parse(Precision);
        return this;
    }
}

/// <summary>What a time budget's calibration measured (training throughput after warm-up) and the length it chose.</summary>
public sealed record PretrainCalibration
{
    /// <summary>The budget, in minutes of training.</summary>
    public double Minutes { get; init; }
    /// <summary>Training images per second over the timed calibration steps.</summary>
    public double ImagesPerSecond { get; init; }
    /// <summary>How many steps were timed (after the untimed warm-up steps).</summary>
    public int TimedSteps { get; init; }
    /// <summary>Steps the requested epochs take.</summary>
    public long RequestedSteps { get; init; }
    /// <summary>Steps the run takes: <see cref="RequestedSteps"/> when they fit the budget, else fewer.</summary>
    public long Steps { get; init; }
    /// <summary>The processor the throughput was measured on (<see cref="Hosting.CpuDescription"/>): the same budget takes another step count on another CPU.</summary>
    public string? Cpu { get; init; }
}

/// <summary>
/// Fits a pre-training run into a time budget: with t = batch / throughput seconds a step and e seconds for one test-loss
/// evaluation (at the start and after every epoch; forward passes only, taken as three times the training rate), the run
/// keeps its epochs × steps per epoch when they fit, else takes the largest step count S with S·t + (⌈S / steps per
/// epoch⌉ + 1)·e ≤ the budget (at least one step).
/// </summary>
public static class PretrainBudget
{
    /// <summary>Forward-only evaluation runs this many times faster than a training step (forward + backward + update).</summary>
    public const double EvaluationSpeedup = 3;

    /// <summary>The step count that fits <paramref name="seconds"/>; <paramref name="evalImages"/> per test-loss evaluation (0 = none).</summary>
    public static long Steps(double seconds, double imagesPerSecond, int batchSize, int stepsPerEpoch, int epochs, int evalImages)
    {
        if (!(imagesPerSecond > 0)) throw new ArgumentException($"throughput {imagesPerSecond} img/s: expected a positive number");
        if (batchSize < 1 || stepsPerEpoch < 1 || epochs < 1) throw new ArgumentException("batch size, steps per epoch and epochs must be ≥ 1");
        double step = batchSize / imagesPerSecond;
        double evaluation = evalImages / (EvaluationSpeedup * imagesPerSecond);
        double Cost(long steps) => steps * step + ((steps + stepsPerEpoch - 1) / stepsPerEpoch + 1) * evaluation;
        long requested = (long)stepsPerEpoch * epochs;
        if (Cost(requested) <= seconds) return requested;
        long s = Math.Clamp((long)Math.Floor(seconds / step), 1, requested);
        while (s > 1 && Cost(s) > seconds) s--;
        return s;
    }
}
