namespace CrateMae.Evaluation;

/// <summary>Settings of <see cref="Lbfgs"/>.</summary>
public sealed record LbfgsOptions
{
    /// <summary>Converged when the gradient's Euclidean norm is at most this (absolute; default 1e-6).</summary>
    public double GradientTolerance { get; init; } = 1e-6;

    /// <summary>Maximum number of iterations (accepted steps); default 1000.</summary>
    public int MaxIterations { get; init; } = 1000;

    /// <summary>Number of (s, y) correction pairs kept; default 10.</summary>
    public int History { get; init; } = 10;

    /// <summary>Armijo sufficient-decrease constant c₁ of the backtracking line search; default 1e-4.</summary>
    public double ArmijoC1 { get; init; } = 1e-4;

    /// <summary>Maximum step halvings/interpolations per line search before giving up; default 40.</summary>
    public int MaxLineSearchSteps { get; init; } = 40;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad option.</summary>
    public LbfgsOptions Validate()
    {
        if (!(GradientTolerance > 0) || !double.IsFinite(GradientTolerance))
            throw new ArgumentException($"L-BFGS gradient_tolerance must be a positive number, got {GradientTolerance}");
        if (MaxIterations < 1) throw new ArgumentException($"L-BFGS max_iterations must be ≥ 1, got {MaxIterations}");
        if (History < 1) throw new ArgumentException($"L-BFGS history must be ≥ 1, got {History}");
        if (!(ArmijoC1 > 0 && ArmijoC1 < 0.5)) throw new ArgumentException($"L-BFGS armijo_c1 must be in (0, 0.5), got {ArmijoC1}");
        if (MaxLineSearchSteps < 1) throw new ArgumentException($"L-BFGS max_line_search_steps must be ≥ 1, got {MaxLineSearchSteps}");
        return this;
    }
}
