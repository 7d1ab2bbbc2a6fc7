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
    [Description("Encoder block whose output is pooled, 1 … depth (default: the last, after the final norm; an intermediate block's output has no norm). A comma list such as 3,6 concatenates the pooled features of those blocks, in that order.")]
    public string? Layer { get; init; }

    /// <summary>The blocks of <c>--layer</c> in the order given (null: the last block).</summary>
    public IReadOnlyList<int>? Layers => ParseLayers(Layer);

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

    /// <summary>Parses <c>--layer</c>: one block number ≥ 1 or a comma list of distinct ones; null stays null.</summary>
    /// <exception cref="ArgumentException">A part is not a block number ≥ 1, or a block is named twice.</exception>
    public static IReadOnlyList<int>? ParseLayers(string? value) =>
        value is null ? null : ParseDistinctIntegers("--layer", value, min: 1, "an encoder block number ≥ 1, or a comma list of them such as 3,6", "block ");

    /// <summary>A comma list of distinct integers ≥ <paramref name="min"/>, in the order given; errors name the option and the value.</summary>
    public static IReadOnlyList<int> ParseDistinctIntegers(string option, string value, int min, string expected, string noun = "")
    {
        var numbers = new List<int>();
        foreach (var part in value.Split(',', StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out int n) || n < min)
                throw new ArgumentException($"{option} {value}: expected {expected}");
            if (numbers.Contains(n)) throw new ArgumentException($"{option} {value}: {noun}{n} is named twice");
            numbers.Add(n);
        }
        return numbers;
    }

    public override ValidationResult Validate()
    {
        try { ParseLayers(Layer); }
        catch (ArgumentException e) { return ValidationResult.Error(e.Message); }
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
