using System.ComponentModel;
using CrateMae.Export;
using CrateMae.Training;
using Spectre.Console;
using Spectre.Console.Cli;

namespace CrateMae.Cli.Commands;

/// <summary>
/// <c>crate-mae export --checkpoint C --format onnx -o F.onnx [--part encoder|mae]</c>: the model as an ONNX graph of
/// standard operators, for ONNX Runtime or ML.NET without libtorch (<see cref="OnnxExport"/>).
/// </summary>
public sealed class ExportCommand : Command<ExportCommand.Settings>
{
    public sealed class Settings : ModelSettings
    {
        [CommandOption("-c|--checkpoint <PATH>")]
        [Description("Run folder or checkpoint (.ckpt, .pth, .safetensors).")]
        public string Checkpoint { get; init; } = "";

        [CommandOption("--format <FORMAT>")]
        [Description("Output format: onnx (default).")]
        public string Format { get; init; } = "onnx";

        [CommandOption("-o|--output <FILE>")]
        [Description("The file to write (.onnx).")]
        public string Output { get; init; } = "";

        [CommandOption("--part <PART>")]
        [Description("encoder (default): images → features [[batch, 1 + L, D]] and pooled [[batch, D]] (mean of the patch tokens); mae: images and noise [[batch, L]] → loss, pred, mask.")]
        public string Part { get; init; } = "encoder";

        [CommandOption("--opset <N>")]
        [Description("ONNX operator-set version, 17 … 21 (default 17).")]
        public int Opset { get; init; } = 17;

        [CommandOption("--mask-ratio <R>")]
        [Description("Mask ratio of the mae part (default 0.75).")]
        public double MaskRatio { get; init; } = 0.75;

        [CommandOption("--pixels")]
        [Description("The graph takes pixels in [[0, 1]] and normalises them with the checkpoint's statistics (default: normalised images, as the model's forward).")]
        public bool Pixels { get; init; }

        public OnnxPart OnnxPart => Part.Trim().ToLowerInvariant() switch
        {
            "encoder" => OnnxPart.Encoder,
            "mae" => OnnxPart.Mae,
            _ => throw new ArgumentException($"--part {Part}: expected encoder or mae"),
        };

        public override ValidationResult Validate()
        {
            if (string.IsNullOrWhiteSpace(Checkpoint)) return ValidationResult.Error("--checkpoint: required (a run folder or checkpoint)");
            if (string.IsNullOrWhiteSpace(Output)) return ValidationResult.Error("--output: required (an .onnx file)");
            if (!Format.Equals("onnx", StringComparison.OrdinalIgnoreCase)) return ValidationResult.Error($"--format {Format}: expected onnx");
            if (!Output.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase)) return ValidationResult.Error($"--output {Output}: must end in .onnx");
            return base.Validate();
        }
    }

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        s.Apply();
        using var loaded = ModelSource.Load(s.Checkpoint, s.Model);
        var normalization = s.Pixels
            ? loaded.Normalization ?? throw new ArgumentException($"--pixels: {loaded.Source} records no image normalisation; export without --pixels and normalise the images yourself")
            : null;
        var options = new OnnxExportOptions { Part = s.OnnxPart, Opset = s.Opset, MaskRatio = s.MaskRatio, InputNormalization = normalization };
        OnnxExport.Save(loaded.Model, s.Output, options);
        var c = loaded.Model.Config;
        var input = normalization is null ? "images (normalised)" : "pixels in [0, 1]";
        var outputs = options.Part == OnnxPart.Encoder ? "features, pooled" : "loss, pred, mask";
        if (s.Json)
            Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(new
            {
                output = Path.GetFullPath(s.Output), part = s.Part, opset = s.Opset, model = c.Name, input, outputs,
                bytes = new FileInfo(s.Output).Length,
            }));
        else
            AnsiConsole.MarkupLineInterpolated(
                $"{loaded.Source} ([bold]{c.Name}[/], {options.Part.ToString().ToLowerInvariant()}, opset {s.Opset}) → {s.Output}: {input} [[batch, {c.InChans}, {c.ImgSize}, {c.ImgSize}]] → {outputs}");
        return 0;
    }
}
