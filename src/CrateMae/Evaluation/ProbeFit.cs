namespace CrateMae.Evaluation;

/// <summary>One finished fit of <see cref="LinearProbe.Fit"/>: its point (validation top-1 NaN for the final refit) and wall time.</summary>
public sealed record ProbeFit(RegularisationPoint Point, double Seconds, bool Final);
