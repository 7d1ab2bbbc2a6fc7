using System.ComponentModel;
using CrateMae.Analysis;
using CrateMae.Reporting;
using CrateMae.Training;
using Spectre.Console;
using Spectre.Console.Cli;

namespace CrateMae.Cli.Commands;

/// <summary>
/// <c>crate-mae analyze --checkpoint C [--compare C2 …] [--random-init] [--limit N] [-o DIR]</c>: per encoder layer
/// R^c, sparsity (spec §7.1–7.3) and cls-attention foreground ratio, mean ± std over N dataset images on the unmasked path; writes analysis.json,
/// coding-rate.png and sparsity.png (all models overlaid).
/// </summary>
public sealed class AnalyzeCommand : Command<AnalyzeCommand.Settings>
{
    public sealed class Settings : AnalysisSettings
    {
        [CommandOption("--compare <PATH>")]
        [Description("Another checkpoint or run folder to overlay (repeat for several); same --model rules as --checkpoint.")]
        public string[] Compare { get; init; } = [];

        [CommandOption("--random-init")]
        [Description("Also measure a freshly initialised model of the same config (--seed; the same seed gives the same weights).")]
        public bool RandomInit { get; init; }

        [CommandOption("--seed <N>")]
        [Description("Seed of the --random-init model (default 0).")]
        public ulong Seed { get; init; }

        [CommandOption("--epsilon <E>")]
        [Description("ε of the coding rate (default 0.01, the reference value).")]
        public double Epsilon { get; init; } = CodingRate.DefaultEpsilon;

        public override ValidationResult Validate()
        {
            if (!(Epsilon > 0) || !double.IsFinite(Epsilon)) return ValidationResult.Error("--epsilon: expected a positive number");
            return base.Validate();
        }
    }

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        s.Apply();
        var folder = Path.GetFullPath(s.Output ?? s.DefaultFolder());
        var file = Run(s, s.Checkpoint!, s.Compare, s.RandomInit, s.Seed, s.Limit ?? AnalysisSettings.DefaultLimit, s.Epsilon, quiet: s.Json);
        var written = LayerCurvePlot.SaveAll(file, folder);
        if (s.Json)
        {
            Console.WriteLine(file.ToJson());
            return 0;
        }
        Print(file);
        foreach (var w in written) AnsiConsole.MarkupLineInterpolated($"wrote [bold]{w}[/]");
        return 0;
    }

    /// <summary>Loads the checkpoint and comparisons, measures them all (also used by <c>report</c>).</summary>
    internal static AnalysisFile Run(AnalysisSettings s, string checkpoint, IReadOnlyList<string> compare, bool randomInit, ulong seed,
        int images, double epsilon, bool quiet)
    {
        var loaded = new List<LoadedModel>();
        try
        {
            var main = ModelSource.Load(checkpoint, s.Model, s.Device);
            loaded.Add(main);
            s.WarnOnDataMismatch(main);
            foreach (var c in compare)
            {
                var other = ModelSource.Load(c, s.Model, s.Device);
                loaded.Add(other);
            }
            var models = loaded.Select((l, i) => new AnalysisModel(
                i == 0 ? $"{AnalysisSettings.ShortName(checkpoint)} (trained)" : AnalysisSettings.ShortName(compare[i - 1]),
                l.Source, l.Model, l.Normalization)).ToList();
            if (models.Select(m => m.Name).Distinct().Count() != models.Count)
                models = models.Select((m, i) => m with { Name = $"{m.Name} [{i + 1}]" }).ToList();
            Models.MaskedAutoencoder? fresh = null;
            try
            {
                if (randomInit)
                {
                    fresh = WhiteBoxComparison.RandomInit(main.Model.Config, seed, main.Model.parameters().First().device);
                    models.Add(WhiteBoxComparison.RandomInitModel(fresh, seed, main.Normalization));
                }
                var request = s.Request();
                var last = DateTime.MinValue;
                return WhiteBoxComparison.Run(models, request, images, s.Batch, epsilon, (name, n) =>
                {
                    if (quiet || (DateTime.UtcNow - last).TotalSeconds < 5) return;
                    last = DateTime.UtcNow;
                    Console.Error.WriteLine($"{name}: {n} images measured");
                });
            }
            finally
            {
                fresh?.Dispose();
            }
        }
        finally
        {
            foreach (var l in loaded) l.Dispose();
        }
    }

    private static void Print(AnalysisFile file)
    {
        AnsiConsole.MarkupLineInterpolated($"[bold]{file.Images}[/] images of [bold]{file.Data}[/], unmasked path; mean ± std over images");
        Table("coding rate Rᶜ (lower = more compressed)", file, l => $"{l.CodingRateMean:F2} ± {l.CodingRateStd:F2}");
        Table("ℓ⁰ density of the block output (lower = sparser)", file, l => $"{l.SparsityMean:F3} ± {l.SparsityStd:F3}");
        if (file.Series.Any(s => s.Report.Layers.Any(l => l.ForegroundRatioMean is not null)))
            Table("cls-attention foreground ratio (> 1 = on the object)", file,
                l => l.ForegroundRatioMean is { } m ? $"{m:F3} ± {l.ForegroundRatioStd:F3}" : "-");
        if (TrainingEffect.Of(file) is { } effect) AnsiConsole.WriteLine(effect.Summary);
    }

    private static void Table(string title, AnalysisFile file, Func<LayerStatistics, string> cell)
    {
        var table = new Table { Title = new TableTitle(title) }.AddColumn("layer ℓ");
        foreach (var s in file.Series) table.AddColumn(new TableColumn(Markup.Escape(s.Name)).RightAligned());
        int depth = file.Series.Max(s => s.Report.Layers.Count);
        for (int l = 0; l < depth; l++)
            table.AddRow([(l + 1).ToString(), .. file.Series.Select(s => l < s.Report.Layers.Count ? cell(s.Report.Layers[l]) : "")]);
        AnsiConsole.Write(table);
    }
}
