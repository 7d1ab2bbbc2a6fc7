namespace CrateMae.Training;

/// <summary>A progress report after each optimisation step (for progress bars); <c>StepsPerEpoch</c> is this epoch's steps (a time-budgeted run's last epoch ends early).</summary>
public sealed record TrainProgress(int Epoch, int Epochs, int StepInEpoch, int StepsPerEpoch, long GlobalStep,
    long TotalSteps, double Loss, double Lr, double ImagesPerSecond, TimeSpan Elapsed, TimeSpan Eta);

/// <summary>What a finished (or interrupted) pre-training run reports.</summary>
public sealed record PretrainSummary
{
    public required string OutputDir { get; init; }
    public int EpochsCompleted { get; init; }
    public long Steps { get; init; }
    public double? FirstTestLoss { get; init; }
    public double? LastTestLoss { get; init; }
    public double? LastTrainLoss { get; init; }
    public double WallSeconds { get; init; }
    public double ImagesPerSecond { get; init; }
    public bool Interrupted { get; init; }
    public string? LastCheckpoint { get; init; }
    public string? ExportedPth { get; init; }
}

/// <summary>Training stopped because the loss became NaN or infinite.</summary>
public sealed class TrainingDivergedException(string message) : Exception(message);
