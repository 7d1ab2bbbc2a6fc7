using System.ComponentModel;
using CrateMae.Analysis;
using CrateMae.Reporting;
using Spectre.Console;
using Spectre.Console.Cli;

namespace CrateMae.Cli.Commands;

/// <summary>
/// <c>crate-mae pca --checkpoint C (--image FILE… | --index I --count K) [--layer L] [--components K] [--first-component F]</c>:
/// PCA of a block's patch features fitted over all given images (spec §7.5), per image the image, the RGB composite
/// and every component, in one PNG.
/// </summary>
public sealed class PcaCommand : Command<PcaCommand.Settings>
{
    public sealed class Settings : LayerImageSettings
    {
        [CommandOption("--components <K>")]
        [Description("Principal components to fit and show (default 4, at least 3).")]
        public int Components { get; init; } = 4;

        [CommandOption("--first-component <F>")]
        [Description("Components F … F+2 (0-based) form the RGB image: 0 (default) = the first three; 1 with 4 components = the reference's last three.")]
        public int FirstComponent { get; init; }

        [CommandOption("--foreground-only")]
        [Description("Fit on foreground patches only (pixels differing from the border colour) and show background as 0.")]
        public bool ForegroundOnly { get; init; }

        protected override int DefaultCount => 8;
    }

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        s.Apply();
        using var loaded = s.LoadModel();
        int layer = AnalysisSettings.CheckLayer(s.Layer, loaded.Model.Config);
        if (s.UsesDataset) s.WarnOnDataMismatch(loaded);
        using var batch = s.LoadImages(loaded);
        var figure = s.OutputPath("pca.png");
        var summary = PcaFigure.Save(figure, new LayerProbe(loaded.Model), batch, layer, s.Components, s.FirstComponent, s.ForegroundOnly);
        summary.Save(Path.ChangeExtension(figure, ".json"));
        if (s.Json)
        {
            Console.WriteLine(summary.ToJson());
            return 0;
        }
        AnsiConsole.MarkupLineInterpolated(
            $"PCA of block [bold]{layer}[/] of {loaded.Model.Config.Depth} over {summary.Descriptors} patch descriptors of {batch.Count} images; explained variance: {string.Join(", ", summary.ExplainedVarianceRatio.Select(v => v.ToString("P1")))}");
        AnsiConsole.MarkupLineInterpolated($"wrote [bold]{figure}[/]");
        return 0;
    }
}
