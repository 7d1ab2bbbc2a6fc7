namespace CrateMae.Evaluation;

/// <summary>Linear-probe outcome (JSON <c>"kind": "linear_probe"</c>); see <see cref="LinearProbe"/>.</summary>
public sealed record LinearProbeResult : EvaluationResult
{
    /// <summary>Samples held out from the training set to choose λ (0 when the grid has one value).</summary>
    public required long ValSize { get; init; }

    /// <summary>The chosen L2 strength λ of mean cross-entropy + (λ/2)·‖W‖².</summary>
    public required double ChosenReg { get; init; }

    /// <summary>Validation top-1 for every grid value, in grid order.</summary>
    public required IReadOnlyList<RegularisationPoint> ValCurve { get; init; }

    /// <summary>L-BFGS iterations of the final refit on the whole training set.</summary>
    public required int Iterations { get; init; }

    /// <summary>Whether the final refit reached the gradient-norm tolerance.</summary>
    public required bool Converged { get; init; }

    /// <summary>Gradient norm of the final refit's objective at its solution.</summary>
    public required double GradNorm { get; init; }
}
