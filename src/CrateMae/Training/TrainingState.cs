namespace CrateMae.Training;

/// <summary>
/// Where a run stands: the next step to run is <see cref="StepInEpoch"/> of <see cref="Epoch"/>. Random streams are
/// derived from (seed, epoch, step), so this position is the whole random state a resume needs.
/// </summary>
public sealed record TrainingState
{
    public int Epoch { get; init; }
    public int StepInEpoch { get; init; }
    public long GlobalStep { get; init; }
    public int Seed { get; init; }
    /// <summary>Seconds of training so far (summed over resumed segments).</summary>
    public double WallSeconds { get; init; }
    /// <summary>Per-parameter AdamW step counts.</summary>
    public Dictionary<string, long> OptimizerSteps { get; init; } = new();
    /// <summary>True once every epoch has run.</summary>
    public bool Finished { get; init; }
}
