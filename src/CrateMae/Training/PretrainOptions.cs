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
        MatmulPrecision.Parse(Precision);
        return this;
    }
}
