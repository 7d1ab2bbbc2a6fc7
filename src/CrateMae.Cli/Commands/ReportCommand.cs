using System.ComponentModel;
using CrateMae.Analysis;
using CrateMae.Reporting;
using CrateMae.Training;
using Spectre.Console;
using Spectre.Console.Cli;

namespace CrateMae.Cli.Commands;

/// <summary>
/// <c>crate-mae report RUN_DIR [-o FILE.html] [--limit N] [--no-compute]</c>: one self-contained HTML page about a run
/// (default RUN_DIR/report.html). Missing analysis outputs (analysis.json and plots with a random-init comparison over
/// --limit dataset images, attention maps, PCA) are computed first into RUN/analysis unless --no-compute; what cannot
/// be made is named in the page.
/// </summary>
public sealed class ReportCommand : Command<ReportCommand.Settings>
{
    public sealed class Settings : DataSettings
    {
        [CommandArgument(0, "<RUN_DIR>")]
        [Description("The run folder (written by pretrain).")]
        public string Run { get; init; } = "";

        [CommandOption("--no-compute")]
        [Description("Only gather what exists; do not run analyze/attention/pca for missing outputs.")]
        public bool NoCompute { get; init; }

        /// <summary>Dataset images of the statistics computed for the report (--limit, default 256).</summary>
        public int StatisticsImages => Limit ?? AnalysisSettings.DefaultLimit;
    }

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        s.Apply();
        if (!Directory.Exists(s.Run)) throw new DirectoryNotFoundException($"RUN_DIR {s.Run}: no such folder");
        var run = new RunFolder(s.Run);
        var notes = new List<string>();
        if (!s.NoCompute) Compute(s, run, notes);
        var output = Path.GetFullPath(s.Output ?? Path.Combine(run.Root, "report.html"));
        RunReport.Save(output, run.Root, notes);
        if (s.Json)
        {
            Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(new { report = output, notes }));
            return 0;
        }
        foreach (var n in notes) AnsiConsole.MarkupLineInterpolated($"[grey]{n}[/]");
        AnsiConsole.MarkupLineInterpolated($"wrote [bold]{output}[/] ({new FileInfo(output).Length / 1024.0:F0} KiB)");
        return 0;
    }

    /// <summary>Makes the analysis outputs that are missing; a failure becomes a note in the page, not an error.</summary>
    private static void Compute(Settings s, RunFolder run, List<string> notes)
    {
        var folder = Path.Combine(run.Root, RunReport.AnalysisFolder);
        bool needAnalysis = !File.Exists(Path.Combine(folder, AnalysisFile.FileName));
        bool needAttention = !File.Exists(Path.Combine(folder, RunReport.AttentionPng));
        bool needPca = !File.Exists(Path.Combine(folder, RunReport.PcaPng));
        if (!needAnalysis && !needAttention && !needPca) return;
        try
        {
            RunFolder.ResolveCheckpoint(run.Root);
        }
        catch (FileNotFoundException e)
        {
            notes.Add($"analysis outputs missing and not computed: {e.Message}");
            return;
        }
        // The image commands' settings for this run and data: dataset images from index 0 (count = command default when null).
        PcaCommand.Settings Images(int? count) => new()
        {
            Checkpoint = run.Root, Model = s.Model, Data = s.Data, BatchSize = s.BatchSize, DataDir = s.DataDir, SkipBadImages = s.SkipBadImages,
            Workers = s.Workers, Limit = s.Limit, Device = s.Device, Index = 0, Count = count,
        };
        var imageSettings = Images(null);
        Attempt(notes, "white-box analysis", needAnalysis, () =>
        {
            var file = AnalyzeCommand.Run(imageSettings, run.Root, [], randomInit: true, seed: 0, s.StatisticsImages, CodingRate.DefaultEpsilon, quiet: s.Json);
            LayerCurvePlot.SaveAll(file, folder);
            return $"computed the white-box analysis for this report ({file.Images} images of {file.Data}, with a random-init comparison)";
        });
        if (!needAttention && !needPca) return;
        Attempt(notes, "attention maps and PCA", true, () =>
        {
            using var loaded = imageSettings.LoadModel();
            var done = new List<string>();
            if (needAttention)
            {
                AttentionCommand.Run(Images(4), loaded, null, s.StatisticsImages, randomInit: true, seed: 0, Path.Combine(folder, RunReport.AttentionPng));
                done.Add($"attention maps (4 test images, foreground ratio over {s.StatisticsImages})");
            }
            if (needPca)
            {
                using var batch = imageSettings.LoadImages(loaded);
                var layer = loaded.Model.Config.Depth;
                var summary = PcaFigure.Save(Path.Combine(folder, RunReport.PcaPng), new LayerProbe(loaded.Model), batch, layer);
                summary.Save(Path.Combine(folder, RunReport.PcaJson));
                done.Add($"PCA ({batch.Count} test images)");
            }
            return "computed for this report: " + string.Join(", ", done);
        });
    }

    private static void Attempt(List<string> notes, string what, bool needed, Func<string> action)
    {
        if (!needed) return;
        try
        {
            notes.Add(action());
        }
        catch (Exception e) when (e is IOException or ArgumentException or InvalidDataException or UnauthorizedAccessException)
        {
            notes.Add($"{what} not computed: {e.Message}");
        }
    }
}
