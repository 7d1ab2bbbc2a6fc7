using System.ComponentModel;
using CrateMae.Evaluation;
using Spectre.Console;
using Spectre.Console.Cli;

namespace CrateMae.Cli.Commands;

/// <summary>
/// <c>crate-mae compare RUN_DIR...</c>: markdown tables (stdout) and one JSON document across pre-training runs:
/// model, parameters, pre-training epochs and wall time, final test masked-patch loss, linear probe, k-NN, fine-tune,
/// the floors, and the last layer's Rᶜ, ℓ⁰ density and foreground ratio trained vs random init, read from each run's
/// <c>config.json</c>, <c>summary.json</c>, <c>eval/</c> results and <c>analysis/analysis.json</c>.
/// </summary>
public sealed class CompareCommand : Command<CompareCommand.Settings>
{
    public sealed class Settings : CommonSettings
    {
        [CommandArgument(0, "<RUN_DIR>")]
        [Description("Pre-training run folders (as written by 'crate-mae pretrain').")]
        public string[] Runs { get; init; } = [];

        [CommandOption("-o|--output <FILE>")]
        [Description("Also write the markdown table to FILE and the JSON to FILE with extension .json.")]
        public string? Output { get; init; }
    }

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        var (comparison, files) = Run(s);
        if (s.Json) Console.Out.WriteLine(comparison.ToJson());
        else Console.Out.Write(comparison.ToMarkdown());
        var ui = new Reporter(s.Json);
        foreach (var f in files) ui.Info($"wrote {f}");
        return 0;
    }

    public static (RunComparison Comparison, IReadOnlyList<string> Files) Run(Settings s)
    {
        var comparison = RunComparison.Build(s.Runs);
        var files = new List<string>();
        if (s.Output is { } md)
        {
            var json = Path.ChangeExtension(md, ".json");
            if (Path.GetFullPath(json) == Path.GetFullPath(md))
                throw new ArgumentException($"--output {md}: give a markdown file name (e.g. comparison.md); the JSON goes next to it as .json");
            CrateMae.IO.AtomicFile.WriteAllText(md, comparison.ToMarkdown());
            CrateMae.IO.AtomicFile.WriteAllText(json, comparison.ToJson() + "\n");
            files.Add(Path.GetFullPath(md));
            files.Add(Path.GetFullPath(json));
        }
        return (comparison, files);
    }
}
