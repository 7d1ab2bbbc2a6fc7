namespace CrateMae.Evaluation;

/// <summary>One point of the linear probe's validation curve (JSON: <c>{"reg", "val_top1", "iterations", "converged"}</c>).</summary>
/// <param name="Reg">The L2 strength λ.</param>
/// <param name="ValTop1">Validation top-1 accuracy, a fraction in [0, 1].</param>
/// <param name="Iterations">L-BFGS iterations of this fit (warm-started from the next stronger λ).</param>
/// <param name="Converged">Whether the gradient norm reached the tolerance.</param>
public sealed record RegularisationPoint(double Reg, double ValTop1, int Iterations, bool Converged);

