using System.ComponentModel;
using CrateMae.Data;
using CrateMae.Evaluation;
using Spectre.Console;
using Spectre.Console.Cli;

namespace CrateMae.Cli.Commands;

/// <summary>
/// <c>crate-mae embed --checkpoint C --data D -o FILE.npy</c>: frozen-encoder features of one split as NumPy
/// <c>.npy</c> (float32 [n, D]) and the labels as <c>FILE.labels.npy</c> (int64 [n]) when the dataset has labels.
/// </summary>
public sealed class EmbedCommand : Command<EmbedCommand.Settings>
{
    public sealed class Settings : EvalSettings
    {
        [CommandOption("--split <SPLIT>")]
        [Description("train (default) or test; a ':test' suffix in --data wins.")]
        public string Split { get; init; } = "train";

        [CommandOption("--floor <FLOOR>")]
        [Description("'random': embed with a randomly initialised encoder of the same config instead.")]
        public string? Floor { get; init; }

        public DataSplit DataSplit => Split.Trim().ToLowerInvariant() switch
        {
            "train" => DataSplit.Train,
            "test" or "val" => DataSplit.Test,
            _ => throw new ArgumentException($"--split {Split}: expected train or test"),
        };

        public override ValidationResult Validate()
        {
            if (string.IsNullOrWhiteSpace(Output)) return ValidationResult.Error("--output: required (the features .npy file; labels go to FILE.labels.npy)");
            if (!Output.EndsWith(".npy", StringComparison.OrdinalIgnoreCase)) return ValidationResult.Error($"--output {Output}: must end in .npy");
            if (Floor is not (null or "random")) return ValidationResult.Error($"--floor {Floor}: embed supports only 'random'");
            return base.Validate();
        }
    }

    /// <summary>What embed wrote.</summary>
    /// <param name="Layers">The blocks concatenated when <c>--layer</c> named several; else null.</param>
    public sealed record Outcome(string Features, string? Labels, long Count, long Dim, string Data, string Origin, int? Layer,
        string Precision = "fp32", IReadOnlyList<int>? Layers = null);

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        s.Apply();
        var ui = new Reporter(s.Json);
        var o = Run(s, ui, cancellationToken);
        if (s.Json)
        {
            ui.WriteJson(System.Text.Json.JsonSerializer.Serialize(new
            {
                features = o.Features, labels = o.Labels, count = o.Count, dim = o.Dim, pooling = s.Pooling.ToString().ToLowerInvariant(),
                layer = o.Layer, layers = o.Layers, precision = o.Precision, data = o.Data, origin = o.Origin,
            }, new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
            return 0;
        }
        ui.Console.MarkupLineInterpolated($"[bold]{o.Count:N0}[/] × {o.Dim} features ({s.Pooling.ToString().ToLowerInvariant()} pooling, {o.Data}, {o.Origin}) → {o.Features}");
        ui.Console.MarkupLineInterpolated($"labels → {o.Labels ?? "(none: the dataset is unlabeled)"}");
        ui.Info("numpy: x = np.load(features); y = np.load(labels)");
        return 0;
    }

    public static Outcome Run(Settings s, Reporter ui, CancellationToken cancellationToken = default)
    {
        if (s.Checkpoint is null && !(s.Floor == "random" && s.Model is not null))
            throw new ArgumentException("--checkpoint: required (or --model M --floor random)");
        using var provider = new FeatureProvider(s, ui, cancellationToken);
        var split = s.DataSplit;
        var (features, labelTensor) = provider.Pooled(s.Floor, split, s.Pooling, out var origin);   // [n, F], [n]
        using (features)
        using (labelTensor)
        {
            var labels = Embeddings.WriteNpy(s.Output!, features, labelTensor);
            return new Outcome(Path.GetFullPath(s.Output!), labels is null ? null : Path.GetFullPath(labels), features.shape[0], features.shape[1],
                provider.DataDescription(split), origin, provider.Layer, provider.ReducedPrecision ?? "fp32", provider.ConcatenatedLayers);
        }
    }
}
