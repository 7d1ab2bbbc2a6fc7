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

        [CommandOption("--whiten <K>")]
        [Description("Find the neighbours in the K leading PCA directions of the training features, each scaled to unit variance (default: the features as they are). On masked-autoencoder features this weighs the directions evenly instead of by the variance that reconstruction puts in them.")]
        public int? Whiten { get; init; }

        public override ValidationResult Validate()
        {
            if (K < 1) return ValidationResult.Error("-k: expected an integer ≥ 1");
            if (!(Temperature > 0) || !double.IsFinite(Temperature)) return ValidationResult.Error("--temperature: expected a positive number");
            if (Whiten < 1) return ValidationResult.Error($"--whiten {Whiten}: expected a number of components ≥ 1");
            return base.Validate();
        }
    }

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        s.Apply();
        var ui = new Reporter(s.Json);
        var outcome = Run(s, ui, cancellationToken);
        if (s.Json) ui.WriteJson(outcome.ToJson());
        else FeatureEvaluation.Print(ui, outcome, $"Weighted cosine k-NN (k = {s.K}, T = {s.Temperature}{(s.Whiten is { } w ? $", {w} whitened PCA components" : "")})");
        return 0;
    }

    public static FeatureEvaluationOutcome Run(Settings s, Reporter ui, CancellationToken cancellationToken = default) =>
        FeatureEvaluation.Run("knn", s, ui, f =>
        {
            if (s.K > f.TrainX.shape[0])
                throw new ArgumentException($"-k {s.K}: larger than the {f.TrainX.shape[0]} training images");
            if (s.Whiten is not { } components)
                return KnnClassifier.Evaluate(f.TrainX, f.TrainY, f.TestX, f.TestY, f.Model, f.Pooling, s.K, s.Temperature);
            using var whitening = PcaWhitening.Fit(f.TrainX, components);
            using var train = whitening.Apply(f.TrainX);    // [n, K]
            using var test = whitening.Apply(f.TestX);
            return KnnClassifier.Evaluate(train, f.TrainY, test, f.TestY, f.Model, f.Pooling, s.K, s.Temperature) with { Whiten = components };
        }, EvalFiles.Knn, cancellationToken);
}
