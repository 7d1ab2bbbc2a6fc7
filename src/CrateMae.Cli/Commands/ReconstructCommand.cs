using System.ComponentModel;
using CrateMae.Analysis;
using CrateMae.Reporting;
using Spectre.Console;
using Spectre.Console.Cli;

namespace CrateMae.Cli.Commands;

/// <summary>
/// <c>crate-mae reconstruct --checkpoint C (--image FILE… | --index I --count K) [--mask-ratio R] [--seed S] [-o FILE]</c>:
/// the four-panel reconstruction rows (original | masked | reconstruction | reconstruction + visible) for any images.
/// </summary>
public sealed class ReconstructCommand : Command<ReconstructCommand.Settings>
{
    public sealed class Settings : ImageSelectionSettings
    {
        [CommandOption("--mask-ratio <R>")]
        [Description("Fraction of patches removed (default 0.75).")]
        public double MaskRatio { get; init; } = 0.75;

        [CommandOption("--seed <N>")]
        [Description("Seed of the masking noise (default 0).")]
        public ulong Seed { get; init; }

        protected override int DefaultCount => 8;

        public override ValidationResult Validate() =>
            MaskRatio is >= 0 and < 1 ? base.Validate() : ValidationResult.Error("--mask-ratio: expected a number in [0, 1)");
    }

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        s.Apply();
        using var loaded = s.LoadModel();
        if (s.UsesDataset) s.WarnOnDataMismatch(loaded);
        using var batch = s.LoadImages(loaded);
        var figure = s.OutputPath("reconstruction.png");
        var summary = ReconstructionFigure.Save(figure, loaded.Model, batch, s.MaskRatio, s.Seed);
        summary.Save(Path.ChangeExtension(figure, ".json"));
        if (s.Json)
        {
            Console.WriteLine(summary.ToJson());
            return 0;
        }
        AnsiConsole.MarkupLineInterpolated($"{batch.Count} images, {s.MaskRatio:P0} masked (seed {s.Seed}): masked-patch loss [bold]{summary.Loss:F4}[/]");
        AnsiConsole.MarkupLineInterpolated($"wrote [bold]{figure}[/]");
        return 0;
    }
}
