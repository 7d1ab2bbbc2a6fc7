namespace CrateMae.Evaluation;

/// <summary>Settings of <see cref="LinearProbe"/>: regularisation grid, validation split and solver.</summary>
public sealed record LinearProbeOptions
{
    /// <summary>
    /// Candidate L2 strengths λ of the objective mean cross-entropy + (λ/2)·‖W‖² (bias not penalised).
    /// Default: 1e-6, 1e-5, …, 1e-1 (six log-spaced values). λ = 1/(C·n) relates it to scikit-learn's C.
    /// </summary>
    public IReadOnlyList<double> RegularisationGrid { get; init; } = LogSpace(1e-6, 1e-1, 6);

    /// <summary>Fraction of the training set held out to choose λ (default 0.1); must be in (0, 1).</summary>
    public double ValidationFraction { get; init; } = 0.1;

    /// <summary>Seed of the validation split (System.Random); the same seed gives the same split.</summary>
    public int Seed { get; init; }

    /// <summary>Stratify the validation split by class (default true): each class gives round(fraction·n_c) samples.</summary>
    public bool Stratified { get; init; } = true;

    /// <summary>Number of classes; null = 1 + the largest label seen.</summary>
    public int? NumClasses { get; init; }

    /// <summary>L-BFGS settings (gradient-norm tolerance, iteration cap, history).</summary>
    public LbfgsOptions Solver { get; init; } = new() { GradientTolerance = DefaultTolerance };

    /// <summary>
    /// Gradient-norm tolerance of the probe's fits: 1e-4, scikit-learn's default <c>tol</c> for the same mean loss, here on the
    /// Euclidean norm of the whitened gradient (at least as strict as its largest component). Top-1 agrees with a 1e-6
    /// fit to within one test image on raw Fashion-MNIST pixels.
    /// </summary>
    public const double DefaultTolerance = 1e-4;

    /// <summary><paramref name="count"/> values from <paramref name="min"/> to <paramref name="max"/>, evenly spaced in log10.</summary>
    public static IReadOnlyList<double> LogSpace(double min, double max, int count)
    {
        if (!(min > 0) || !(max >= min) || count < 1)
            throw new ArgumentException($"log-space grid needs 0 < min ≤ max and count ≥ 1, got min {min}, max {max}, count {count}");
        if (count == 1) return [min];
        double a = Math.Log10(min), b = Math.Log10(max);
        // Round to 12 significant digits so 1e-3 prints as 1E-3, not 0.0010000000000000002.
        return Enumerable.Range(0, count)
            .Select(i => double.Parse(Math.Pow(10, a + (b - a) * i / (count - 1)).ToString("G12", System.Globalization.CultureInfo.InvariantCulture),
                System.Globalization.CultureInfo.InvariantCulture))
            .ToArray();
    }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad option.</summary>
    public LinearProbeOptions Validate()
    {
        if (RegularisationGrid is null || RegularisationGrid.Count == 0)
            throw new ArgumentException("linear probe regularisation_grid must hold at least one value");
        foreach (var r in RegularisationGrid)
            if (!(r > 0) || !double.IsFinite(r))
                throw new ArgumentException($"linear probe regularisation_grid values must be finite and > 0 (the objective must stay strongly convex), got {r}");
        if (RegularisationGrid.Count > 1 && !(ValidationFraction > 0 && ValidationFraction < 1))
            throw new ArgumentException($"linear probe validation_fraction must be in (0, 1), got {ValidationFraction}");
        if (NumClasses is < 2)
            throw new ArgumentException($"linear probe num_classes must be ≥ 2, got {NumClasses}");
        ArgumentNullException.ThrowIfNull(Solver, nameof(Solver));
        Solver.Validate();
        return this;
    }
}
