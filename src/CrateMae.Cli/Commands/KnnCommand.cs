using System.ComponentModel;
using CrateMae.Evaluation;
using Spectre.Console;
using Spectre.Console.Cli;

namespace CrateMae.Cli.Commands;

/// <summary><c>crate-mae knn --checkpoint C</c>: DINO's weighted cosine k-NN (k = 20, T = 0.07) on the (cached) frozen-encoder features.</summary>
public sealed class KnnCommand : Command<KnnCommand.Settings>
{
    public sealed class Settings : FloorSettings
    {
        [CommandOption("-k|--neighbours <K>")]
        [Description("Neighbours that vote (default 20).")]
        public int K { get; init; } = 20;

        [CommandOption("--temperature <T>")]
        [Description("Vote temperature: a neighbour with cosine similarity s votes exp(s / T) (default 0.07).")]
        public double Temperature { get; init; } = 0.07;

        public override ValidationResult Validate()
        {
            if (K < 1) return ValidationResult.Error("-k: expected an integer ≥ 1");
            if (!(Temperature > 0) || !double.IsFinite(Temperature)) return ValidationResult.Error("--temperature: expected a positive number");
            return base.Validate();
        }
    }

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        s.Apply();
        var ui = new Reporter(s.Json);
        var outcome = Run(s, ui, cancellationToken);
        if (s.Json) ui.WriteJson(outcome.ToJson());
        else FeatureEvaluation.Print(ui, outcome, $"Weighted cosine k-NN (k = {s.K}, T = {s.Temperature})");
        return 0;
    }

    public static FeatureEvaluationOutcome Run(Settings s, Reporter ui, CancellationToken cancellationToken = default) =>
        FeatureEvaluation.Run("knn", s, ui, f =>
        {
            if (s.K > f.TrainX.shape[0])
                throw new ArgumentException($"-k {s.K}: larger than the {f.TrainX.shape[0]} training images");
            return KnnClassifier.Evaluate(f.TrainX, f.TrainY, f.TestX, f.TestY, f.Model, f.Pooling, s.K, s.Temperature);
        }, EvalFiles.Knn, cancellationToken);
}
