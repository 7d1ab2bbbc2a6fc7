namespace CrateMae.Evaluation;

/// <summary>
/// Where the evaluation commands put their results, so that <c>crate-mae compare</c> finds them: an <c>eval/</c> folder
/// next to the checkpoint (for a run folder: <c>RUN/eval/</c>) holding <c>linprobe.json</c>, <c>knn.json</c>,
/// <c>finetune/finetune.json</c>, their floors (<c>linprobe-pixels.json</c>, <c>linprobe-random.json</c>, …) and the
/// feature cache (<c>cache/</c>).
/// </summary>
public static class EvalFiles
{
    public const string FolderName = "eval";

    /// <summary>The floors: a baseline every learned representation should beat.</summary>
    public const string PixelsFloor = "pixels";
    public const string RandomFloor = "random";

    /// <summary><c>eval/</c> beside a checkpoint file.</summary>
    public static string EvalDirFor(string checkpointPath)
    {
        var full = Path.GetFullPath(checkpointPath);
        return Path.Combine(Path.GetDirectoryName(full) ?? full, FolderName);
    }

    public static string CacheDir(string evalDir) => Path.Combine(evalDir, "cache");

    /// <summary>
    /// <c>linprobe.json</c>, <c>linprobe-FLOOR.json</c> for a floor, <c>linprobe-layerL[-FLOOR].json</c> for the
    /// features of intermediate encoder block L (<paramref name="blocks"/>, 1-based; null for the last block),
    /// <c>linprobe-layerL+M…</c> for several blocks concatenated, <c>linprobe[-layerL]-bf16[-FLOOR].json</c> for
    /// features extracted in bf16.
    /// </summary>
    public static string LinearProbe(string evalDir, string? floor = null, IReadOnlyList<int>? blocks = null, string? precision = null) =>
        Path.Combine(evalDir, Name(Stem("linprobe", blocks, precision), floor) + ".json");

    /// <summary><c>knn.json</c> and its variants, named as <see cref="LinearProbe"/>'s.</summary>
    public static string Knn(string evalDir, string? floor = null, IReadOnlyList<int>? blocks = null, string? precision = null) =>
        Path.Combine(evalDir, Name(Stem("knn", blocks, precision), floor) + ".json");

    private static string Stem(string stem, IReadOnlyList<int>? blocks, string? precision) =>
        (blocks is { Count: > 0 } ? $"{stem}-layer{string.Join('+', blocks)}" : stem) + (precision is { } p ? $"-{p}" : "");

    /// <summary><c>finetune/</c>, or <c>finetune-random/</c> for the from-scratch floor.</summary>
    public static string FineTuneDir(string evalDir, string? floor = null) => Path.Combine(evalDir, Name("finetune", floor));

    /// <summary>The fine-tuning result file in <see cref="FineTuneDir"/>.</summary>
    public static string FineTune(string evalDir, string? floor = null) => Path.Combine(FineTuneDir(evalDir, floor), FineTuner.ResultFile);

    private static string Name(string stem, string? floor) => floor is null ? stem : $"{stem}-{floor}";
}
