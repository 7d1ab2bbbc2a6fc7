using System.ComponentModel;
using CrateMae.Evaluation;
using Spectre.Console;
using Spectre.Console.Cli;

namespace CrateMae.Cli.Commands;

/// <summary>Options shared by the commands that evaluate frozen-encoder features (linprobe, knn, embed).</summary>
public class EvalSettings : CheckpointSettings
{
    [CommandOption("--pool <POOL>")]
    [Description("Token pooling: mean (default; mean of the patch tokens, as fine-tuning uses), cls, or grid (the patch-token means of the image's four quadrants, concatenated: 4 × D features that keep where a feature is).")]
    public string Pool { get; init; } = "mean";

    [CommandOption("--layer <L>")]
    [Description("Encoder block whose output is pooled, 1 … depth (default: the last, after the final norm; an intermediate block's output has no norm).")]
    public int? Layer { get; init; }

    [CommandOption("--precision <P>")]
    [Description("Matrix products while extracting features: fp32 (default), bf16 (AMX/AVX512-BF16: faster; features within ~1e-2 of fp32) or auto.")]
    public string Precision { get; init; } = "fp32";

    [CommandOption("--eval-dir <DIR>")]
    [Description("Where results go (default: eval/ next to the checkpoint, i.e. RUN/eval for a run folder).")]
    public string? EvalDir { get; init; }

    [CommandOption("--cache-dir <DIR>")]
    [Description("Feature cache folder (default EVAL_DIR/cache). Entries are keyed by the checkpoint's SHA-256, config, data, limit and preprocessing.")]
    public string? CacheDir { get; init; }

    [CommandOption("--no-cache")]
    [Description("Extract features again and do not write the cache.")]
    public bool NoCache { get; init; }

    [CommandOption("--seed <N>")]
    [Description("Seed of the random-init floor's weights and of the probe's validation split (default 0).")]
    public int Seed { get; init; }

    protected override int DefaultBatchSize => 256;

    public Pooling Pooling => ParsePooling(Pool);

    public static Pooling ParsePooling(string value) => value.Trim().ToLowerInvariant() switch
    {
        "mean" or "avg" or "gap" => Pooling.Mean,
        "cls" => Pooling.Cls,
        "grid" => Pooling.Grid,
        _ => throw new ArgumentException($"--pool {value}: expected mean, cls or grid"),
    };

    public override ValidationResult Validate()
    {
        if (Layer < 1) return ValidationResult.Error($"--layer {Layer}: expected an encoder block number ≥ 1");
        try { CrateMae.Models.MatmulPrecision.Resolve(Precision, Device); }
        catch (ArgumentException e) { return ValidationResult.Error(e.Message); }
        try { ParsePooling(Pool); }
        catch (ArgumentException e) { return ValidationResult.Error(e.Message); }
        return base.Validate();
    }
}

/// <summary>
/// Options of the commands with floors (linprobe, knn). <c>-o|--output FILE</c> writes the result JSON there instead of
/// EVAL_DIR/&lt;command&gt;[-floor].json (with --floors: one object holding all three).
/// </summary>
public class FloorSettings : EvalSettings
{
    [CommandOption("--floor <FLOOR>")]
    [Description("Evaluate a floor instead of the encoder: 'pixels' (raw normalised pixels) or 'random' (randomly initialised encoder of the same config).")]
    public string? Floor { get; init; }

    [CommandOption("--force")] [Description("Start even when the memory estimate (model, features, probe) exceeds the memory available (default: refuse in one line).")]
    public bool Force { get; init; }

    [CommandOption("--floors")]
    [Description("Evaluate the encoder, the random-init encoder and raw pixels, and print them side by side.")]
    public bool Floors { get; init; }

    /// <summary>The feature sources to evaluate, in display order (null = the encoder).</summary>
    public IReadOnlyList<string?> Variants()
    {
        if (Floors && Floor is not null) throw new ArgumentException("--floor and --floors: give one of them");
        if (Floors) return [null, EvalFiles.RandomFloor, EvalFiles.PixelsFloor];
        return Floor?.Trim().ToLowerInvariant() switch
        {
            null => [null],
            "pixels" or "pixel" or "raw" => [EvalFiles.PixelsFloor],
            "random" or "random-init" => [EvalFiles.RandomFloor],
            var f => throw new ArgumentException($"--floor {f}: expected pixels or random"),
        };
    }
}
