using System.ComponentModel;
using System.Globalization;
using CrateMae.Evaluation;
using Spectre.Console;
using Spectre.Console.Cli;

namespace CrateMae.Cli.Commands;

/// <summary>
/// <c>crate-mae linprobe --checkpoint C</c>: multinomial logistic regression (full-batch L-BFGS, λ chosen on a validation
/// split of the training set) on standardised frozen-encoder features; test top-1 and the chosen λ.
/// </summary>
public sealed class LinprobeCommand : Command<LinprobeCommand.Settings>
{
    public sealed class Settings : FloorSettings
    {
        [CommandOption("--reg <LIST>")]
        [Description("Comma-separated L2 strengths λ to choose from (default 1e-6,1e-5,…,1e-1).")]
        public string? Reg { get; init; }

        [CommandOption("--val-fraction <F>")]
        [Description("Fraction of the training set held out to choose λ (default 0.1).")]
        public double ValFraction { get; init; } = 0.1;

        [CommandOption("--max-iter <N>")]
        [Description("L-BFGS iteration cap per fit (default 1000).")]
        public int MaxIter { get; init; } = 1000;

        [CommandOption("--tolerance <G>")]
        [Description("L-BFGS stops when the norm of the (whitened) gradient is at most G (default 1e-4, scikit-learn's tol).")]
        public double Tolerance { get; init; } = LinearProbeOptions.DefaultTolerance;

        public LinearProbeOptions ProbeOptions()
        {
            if (MaxIter < 1) throw new ArgumentException($"--max-iter {MaxIter}: expected an integer ≥ 1");
            if (!(Tolerance > 0) || !double.IsFinite(Tolerance)) throw new ArgumentException($"--tolerance {Tolerance}: expected a positive number");
            var options = new LinearProbeOptions
            {
                ValidationFraction = ValFraction, Seed = Seed,
                Solver = new LbfgsOptions { MaxIterations = MaxIter, GradientTolerance = Tolerance },
            };
            if (Reg is { } list)
            {
                var grid = list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(v =>
                    double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && d > 0 && double.IsFinite(d)
                        ? d : throw new ArgumentException($"--reg {list}: '{v}' is not a positive number")).ToArray();
                if (grid.Length == 0) throw new ArgumentException($"--reg {list}: give at least one value");
                options = options with { RegularisationGrid = grid };
            }
            try { return options.Validate(); }
            catch (ArgumentException e) when (e.Message.Contains("validation_fraction", StringComparison.Ordinal))
            {
                throw new ArgumentException($"--val-fraction {ValFraction}: expected a number in (0, 1)", e);
            }
        }
    }

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        s.Apply();
        var ui = new Reporter(s.Json);
        var outcome = Run(s, ui, cancellationToken);
        if (s.Json) ui.WriteJson(outcome.ToJson());
        else FeatureEvaluation.Print(ui, outcome, "Linear probe (test top-1)");
        return 0;
    }

    /// <summary>One progress line per fit: λ, validation top-1, iterations, convergence, seconds.</summary>
    internal static string Describe(ProbeFit fit)
    {
        var p = fit.Point;
        string what = fit.Final ? $"final fit on all training images, λ {p.Reg:G3}" : $"λ {p.Reg:G3}: validation top-1 {100 * p.ValTop1:F2} %";
        return $"  {what}, {p.Iterations} iterations, {(p.Converged ? "converged" : "stopped at the iteration cap")} ({fit.Seconds:F1} s)";
    }

    /// <summary>The whole command without printing the result (used by the tests).</summary>
    public static FeatureEvaluationOutcome Run(Settings s, Reporter ui, CancellationToken cancellationToken = default)
    {
        var options = s.ProbeOptions();
        return FeatureEvaluation.Run("linprobe", s, ui,
            f => LinearProbe.Evaluate(f.TrainX, f.TrainY, f.TestX, f.TestY, f.Model, f.Pooling, options, fit => ui.Info(Describe(fit))),
            EvalFiles.LinearProbe, cancellationToken);
    }
}
