using System.ComponentModel;
using CrateMae.Analysis;
using CrateMae.Reporting;
using CrateMae.Training;
using Spectre.Console;
using Spectre.Console.Cli;

namespace CrateMae.Cli.Commands;

/// <summary>
/// <c>crate-mae attention --checkpoint C (--image FILE… | --index I [--count K]) [--layer L] [--limit N]</c>: the cls
/// attention of every head of encoder block L (spec §7.4) overlaid on the images, one PNG grid, and the foreground
/// ratio averaged over N dataset images (default 256; none with --image unless --limit is given).
/// </summary>
public sealed class AttentionCommand : Command<AttentionCommand.Settings>
{
    public sealed class Settings : LayerImageSettings
    {
        [CommandOption("--random-init")]
        [Description("Also measure the foreground ratio of a freshly initialised model of the same config (--seed).")]
        public bool RandomInit { get; init; }

        [CommandOption("--seed <N>")]
        [Description("Seed of the --random-init model (default 0).")]
        public ulong Seed { get; init; }

    }

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        s.Apply();
        using var loaded = s.LoadModel();
        var summary = Run(s, loaded, s.Layer, s.Limit ?? (s.Image.Length > 0 ? 0 : AnalysisSettings.DefaultLimit), s.RandomInit, s.Seed, s.OutputPath("attention.png"));
        if (s.Json)
        {
            Console.WriteLine(summary.ToJson());
            return 0;
        }
        AnsiConsole.MarkupLineInterpolated($"encoder block [bold]{summary.Layer}[/] of {loaded.Model.Config.Depth} of {loaded.Model.Config.Name}, {summary.Heads} heads, {summary.Grid[0]}×{summary.Grid[1]} patches");
        Ratio("shown images", summary.ShownRatio);
        Ratio($"{summary.Data}", summary.DatasetRatio);
        Ratio("random init, same images", summary.RandomInitRatio);
        AnsiConsole.MarkupLineInterpolated($"wrote [bold]{summary.Figure}[/] and [bold]{Path.ChangeExtension(summary.Figure, ".json")}[/]");
        return 0;
    }

    private static void Ratio(string what, ForegroundSummary? r)
    {
        if (r is null) return;
        if (r.Images == 0)
        {
            AnsiConsole.MarkupLineInterpolated($"foreground ratio ({what}): not defined — each of the {r.Skipped} images is all foreground or all background");
            return;
        }
        AnsiConsole.MarkupLineInterpolated(
            $"foreground ratio ({what}): [bold]{r.Mean:F3}[/] ± {r.Std:F3} over {r.Images} images ({r.Skipped} skipped; foreground share {r.ForegroundShare:P0}); per head: {string.Join(", ", r.PerHeadMean.Select(v => v.ToString("F2")))}");
    }

    /// <summary>Draws the figure, measures the ratios and writes FIGURE.json beside the PNG (also used by <c>report</c>).</summary>
    internal static AttentionSummary Run(ImageSelectionSettings s, LoadedModel loaded, int? layerOption, int datasetImages, bool randomInit,
        ulong seed, string figure)
    {
        var config = loaded.Model.Config;
        int layer = AnalysisSettings.CheckLayer(layerOption, config);
        if (s.UsesDataset || datasetImages > 0) s.WarnOnDataMismatch(loaded);
        using var batch = s.LoadImages(loaded);
        var probe = new LayerProbe(loaded.Model);
        AttentionFigure.Save(figure, probe, batch, layer);
        var shown = ClsAttention.ForegroundRatio(probe, [batch.Images], layer);

        ForegroundSummary? dataset = null, baseline = null;
        string? data = null;
        if (datasetImages > 0)
        {
            var request = s.RequestFor(loaded);
            data = AnalysisImages.DatasetName(request);
            dataset = ClsAttention.ForegroundRatio(probe, AnalysisImages.Batches(request, config, datasetImages, s.Batch), layer);
            if (randomInit)
            {
                using var fresh = WhiteBoxComparison.RandomInit(config, seed, loaded.Model.parameters().First().device);
                baseline = ClsAttention.ForegroundRatio(new LayerProbe(fresh), AnalysisImages.Batches(request, config, datasetImages, s.Batch), layer);
            }
        }
        else if (randomInit)
        {
            using var fresh = WhiteBoxComparison.RandomInit(config, seed, loaded.Model.parameters().First().device);
            baseline = ClsAttention.ForegroundRatio(new LayerProbe(fresh), [batch.Images], layer);
        }
        var gp = config.PatchSize;
        var summary = new AttentionSummary(loaded.Source, layer, probe.HeadsOf(layer),
            [(int)batch.Images.shape[2] / gp, (int)batch.Images.shape[3] / gp], figure, batch.Names, shown, data, dataset, baseline);
        summary.Save(Path.ChangeExtension(figure, ".json"));
        return summary;
    }
}
