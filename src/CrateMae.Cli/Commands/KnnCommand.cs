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
        [Description("Find the neighbours in the K leading PCA directions of the training features, each scaled to unit variance (default 0: the features as they are). On masked-autoencoder features this weighs the directions evenly instead of by the variance that reconstruction puts in them. A comma list such as 0,64,128,256 chooses K on the validation split.")]
        public string? Whiten { get; init; }

        [CommandOption("--val-fraction <F>")]
        [Description("Fraction of the training set held out and scored by the k-NN over the rest: the validation top-1, and the choice among --whiten values (default 0.1; 0 = no validation split).")]
        public double ValFraction { get; init; } = 0.1;

        /// <summary>The whitening sizes of <c>--whiten</c> (0 = none), in the order given.</summary>
        public IReadOnlyList<int> WhitenCandidates => ParseWhiten(Whiten);

        public static IReadOnlyList<int> ParseWhiten(string? value) => value is null ? [0] :
            ParseDistinctIntegers("--whiten", value, min: 0, "a number of components ≥ 1 (0 = no whitening), or a comma list of them such as 0,64,128");

        public override ValidationResult Validate()
        {
            if (K < 1) return ValidationResult.Error("-k: expected an integer ≥ 1");
            if (!(Temperature > 0) || !double.IsFinite(Temperature)) return ValidationResult.Error("--temperature: expected a positive number");
            if (!(ValFraction >= 0 && ValFraction < 1)) return ValidationResult.Error($"--val-fraction {ValFraction}: expected a number in [0, 1)");
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

    public static FeatureEvaluationOutcome Run(Settings s, Reporter ui, CancellationToken cancellationToken = default)
    {
        var candidates = s.WhitenCandidates;
        KnnEvaluation.CheckChoice(candidates, s.ValFraction);   // before any feature is extracted
        return FeatureEvaluation.Run("knn", s, ui, f =>
        {
            if (s.K > f.TrainX.shape[0])
                throw new ArgumentException($"-k {s.K}: larger than the {f.TrainX.shape[0]} training images");
            return KnnEvaluation.Evaluate(f.TrainX, f.TrainY, f.TestX, f.TestY, f.Model, f.Pooling, s.K, s.Temperature,
                candidates, s.ValFraction, s.Seed);
        }, EvalFiles.Knn, cancellationToken);
    }
}
