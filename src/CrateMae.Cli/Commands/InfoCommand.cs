using System.ComponentModel;
using System.Text.Json;
using CrateMae.Models;
using CrateMae.Training;
using Spectre.Console;
using Spectre.Console.Cli;

namespace CrateMae.Cli.Commands;

/// <summary><c>crate-mae info --model NAME [--baseline NAME] [--json]</c>.</summary>
public sealed class InfoCommand : Command<InfoCommand.Settings>
{
    public sealed class Settings : ModelSettings
    {
        [CommandOption("--baseline <NAME>")]
        [Description("A second preset/config; prints the parameter ratio model/baseline.")]
        public string? Baseline { get; init; }

        [CommandOption("-b|--batch-size <N>")]
        [Description("Batch size of the memory estimate (default 128 for images up to 64 px, else 8).")]
        public int? BatchSize { get; init; }

        public override ValidationResult Validate() =>
            BatchSize is < 1 ? ValidationResult.Error("--batch-size: expected an integer ≥ 1") : base.Validate();
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        if (settings.Model == "list")
        {
            var list = new Table().AddColumns("preset", "blocks", "semantics", "img/patch/chans", "D / depth / heads", "decoder", "total params");
            foreach (var name in Presets.Names)
            {
                var c = Presets.Get(name);
                list.AddRow(name, c.Kind.ToString(), c.Semantics.ToString(), $"{c.ImgSize}/{c.PatchSize}/{c.InChans}",
                    $"{c.EmbedDim} / {c.Depth} / {c.NumHeads}", $"{c.DecoderEmbedDim} / {c.DecoderDepth} / {c.DecoderNumHeads}",
                    ParameterCount.Of(c).Total.ToString("N0"));
            }
            AnsiConsole.Write(list);
            return 0;
        }
        var config = Presets.Resolve(settings.Model ?? "crate-base");
        var counts = ParameterCount.Of(config);
        var baseline = settings.Baseline is null ? null : Presets.Resolve(settings.Baseline);
        var baseCounts = baseline is null ? null : ParameterCount.Of(baseline);
        double? ratio = baseCounts is null ? null : (double)counts.Total / baseCounts.Total;
        int batch = settings.BatchSize ?? (config.ImgSize <= 64 ? 128 : 8);
        long pretrainFp32 = MemoryEstimate.Training(config, batch, bf16Activations: false).Total;
        long pretrainBf16 = MemoryEstimate.Training(config, batch, bf16Activations: true).Total;
        long finetuneFp32 = MemoryEstimate.FineTuning(config, batch, bf16Activations: false, probeImages: 0).Total;

        if (settings.Json)
        {
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                model = config.Name,
                config = JsonDocument.Parse(config.ToJson()).RootElement,
                total = counts.Total,
                trainable = counts.Trainable,
                encoder_trainable = counts.EncoderTrainable,
                baseline = baseline?.Name,
                baseline_total = baseCounts?.Total,
                ratio,
                memory_estimate = new { batch_size = batch, pretrain_fp32_bytes = pretrainFp32, pretrain_bf16_bytes = pretrainBf16, finetune_fp32_bytes = finetuneFp32 },
            }, new JsonSerializerOptions { WriteIndented = true }));
            return 0;
        }

        var table = new Table().AddColumns("", config.Name);
        if (baseline is not null) table.AddColumn(baseline.Name);
        void Row(string label, long a, long? b) =>
            table.AddRow(baseline is null ? [label, a.ToString("N0")] : [label, a.ToString("N0"), b!.Value.ToString("N0")]);
        Row("total parameters", counts.Total, baseCounts?.Total);
        Row("trainable (excl. frozen sin-cos tables)", counts.Trainable, baseCounts?.Trainable);
        Row("encoder only (patch embed, cls, blocks, norm)", counts.EncoderTrainable, baseCounts?.EncoderTrainable);
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLineInterpolated(
            $"estimated memory at batch {batch} (MemoryEstimate; the peak RSS to expect within about 25 %): pretrain {MemoryEstimate.Megabytes(pretrainFp32)} fp32, {MemoryEstimate.Megabytes(pretrainBf16)} bf16; fine-tune {MemoryEstimate.Megabytes(finetuneFp32)} fp32 (+ the LP-FT probe's features)");
        if (ratio is { } r)
        {
            double encoderRatio = (double)counts.EncoderTrainable / baseCounts!.EncoderTrainable;
            AnsiConsole.MarkupLineInterpolated($"{config.Name} has [bold]{r:P1}[/] of the parameters of {baseline!.Name} (encoder only: {encoderRatio:P1}).");
        }
        return 0;
    }
}
