using System.ComponentModel;
using CrateMae.Models;
using CrateMae.Training;
using Spectre.Console;
using Spectre.Console.Cli;

namespace CrateMae.Cli.Commands;

/// <summary><c>crate-mae convert IN OUT</c>: weights between .pth, .safetensors and .ckpt, chosen by extension.</summary>
public sealed class ConvertCommand : Command<ConvertCommand.Settings>
{
    public sealed class Settings : ModelSettings
    {
        [CommandArgument(0, "<IN>")] [Description(".pth (plain state dict or MAE checkpoint), .safetensors, .ckpt, or a run folder.")]
        public string Input { get; init; } = "";

        [CommandArgument(1, "<OUT>")] [Description("Output file: .pth, .safetensors or .ckpt.")]
        public string Output { get; init; } = "";
    }

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        s.Apply();
        if (Path.GetFullPath(s.Input) == Path.GetFullPath(s.Output))
            throw new ArgumentException($"OUT {s.Output} is the input file; choose another name");
        using var loaded = ModelSource.Load(s.Input, s.Model);
        var metadata = new Dictionary<string, string>();
        if (loaded.Normalization is { } n)
            metadata["normalization"] = System.Text.Json.JsonSerializer.Serialize(new { mean = n.Mean, std = n.Std });
        if (loaded.DataDescription is { } d) metadata["data"] = d;
        ModelSource.Save(loaded.Model, s.Output, metadata);
        if (s.Json)
            Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(new
            {
                input = loaded.Source, output = Path.GetFullPath(s.Output), model = loaded.Model.Config.Name,
                parameters = ParameterCount.Of(loaded.Model.Config).Total,
            }));
        else
            AnsiConsole.MarkupLineInterpolated($"{loaded.Source} ([bold]{loaded.Model.Config.Name}[/]) → {s.Output}");
        return 0;
    }
}
