namespace CrateMae.Evaluation;

/// <summary>Outcome of an <see cref="Lbfgs"/> minimisation.</summary>
/// <param name="X">The final point.</param>
/// <param name="Value">Objective value at <paramref name="X"/>.</param>
/// <param name="GradientNorm">Euclidean norm of the gradient at <paramref name="X"/>.</param>
/// <param name="Iterations">Accepted steps taken.</param>
/// <param name="Evaluations">Objective/gradient evaluations (including the initial one).</param>
/// <param name="Converged">True when <paramref name="GradientNorm"/> ≤ the tolerance.</param>
/// <param name="StopReason">"gradient_tolerance", "max_iterations" or "line_search_failed".</param>
public sealed record LbfgsResult(double[] X, double Value, double GradientNorm, int Iterations, int Evaluations,
    bool Converged, string StopReason);
