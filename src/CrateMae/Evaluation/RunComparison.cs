using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using CrateMae.Analysis;
using CrateMae.Models;
using CrateMae.Reporting;
using CrateMae.Training;
using CrateMae.IO;

namespace CrateMae.Evaluation;

/// <summary>One run of <see cref="RunComparison"/>; null = not measured (shown as "-").</summary>
public sealed record ComparisonRow
{
    public required string Run { get; init; }
    public required string? Model { get; init; }
    /// <summary><c>crate</c> or <c>vit</c>.</summary>
    public required string? Blocks { get; init; }
    public required long? ParamsTotal { get; init; }
    /// <summary>Trainable encoder parameters (patch embedding, cls token, blocks, final norm).</summary>
    public required long? ParamsEncoder { get; init; }
    /// <summary>Total parameters as a fraction of the largest run's.</summary>
    public required double? ParamsFractionOfLargest { get; init; }
    public required int? PretrainEpochs { get; init; }
    public required double? PretrainWallSeconds { get; init; }
    /// <summary>Final test masked-patch loss of pre-training (summary.json).</summary>
    public required double? TestMaskedLoss { get; init; }
    public required double? LinearProbe { get; init; }
    public required string? LinearProbePooling { get; init; }
    public required double? Knn { get; init; }
    /// <summary>
    /// Fine-tuning's test top-1 at the epoch its validation split chose (<c>--val-fraction</c>), else the best test
    /// top-1 over the epochs.
    /// </summary>
    public required double? FineTuneBest { get; init; }
    public required double? FineTuneLast { get; init; }
    public required int? FineTuneEpochs { get; init; }
    public required double? LinearProbeRandomInit { get; init; }
    public required double? KnnRandomInit { get; init; }
    public required double? FineTuneRandomInitBest { get; init; }
    /// <summary>Mean R^c of the last encoder layer (<c>analysis/analysis.json</c>, first series).</summary>
    public required double? CodingRateLast { get; init; }
    /// <summary>The same for the random-init series of that file.</summary>
    public required double? CodingRateLastRandomInit { get; init; }
    /// <summary>Mean ℓ⁰ density of the last block's output (lower = sparser).</summary>
    public required double? L0DensityLast { get; init; }
    /// <summary>The same for the random-init series.</summary>
    public required double? L0DensityLastRandomInit { get; init; }
    /// <summary>Mean cls-attention foreground ratio of the last block (1 = no preference).</summary>
    public required double? ForegroundRatioLast { get; init; }
    /// <summary>The same for the random-init series.</summary>
    public required double? ForegroundRatioLastRandomInit { get; init; }
}

/// <summary>The raw-pixel floor (the same for every run on the same data).</summary>
public sealed record PixelFloor(double? LinearProbe, double? Knn, string? Data);

/// <summary>
/// <c>crate-mae compare</c>: reads pre-training run folders (<c>config.json</c>, <c>summary.json</c>) and the results the
/// evaluation commands wrote into their <c>eval/</c> folders (<see cref="EvalFiles"/>), plus the last layer's white-box
/// measures, trained and random init, from <c>analysis/analysis.json</c> (<c>crate-mae analyze --random-init</c>), and
/// lays them out as markdown tables and one JSON document. Anything missing is null in JSON and "-" in markdown.
/// </summary>
public sealed record RunComparison(IReadOnlyList<ComparisonRow> Runs, PixelFloor? Pixels)
{
    public const int SchemaVersion = 1;

    public static RunComparison Build(IEnumerable<string> runDirs)
    {
        ArgumentNullException.ThrowIfNull(runDirs);
        var dirs = runDirs.ToList();
        if (dirs.Count == 0) throw new ArgumentException("compare: give at least one RUN_DIR");
        var partial = new List<ComparisonRow>();
        PixelFloor? pixels = null;
        foreach (var dir in dirs)
        {
            if (!Directory.Exists(dir)) throw new ArgumentException($"RUN_DIR {dir}: no such folder");
            var run = new RunFolder(dir);
            var eval = Path.Combine(run.Root, EvalFiles.FolderName);
            MaeConfig? config = ReadConfig(run.ConfigJson);
            if (config is null && !File.Exists(run.Summary) && !Directory.Exists(eval))
                throw new ArgumentException($"RUN_DIR {dir}: not a run folder (no config.json, summary.json or eval/)");
            var counts = config is null ? null : ParameterCount.Of(config);
            var summary = ReadObject(run.Summary);
            var probe = Read<LinearProbeResult>(EvalFiles.LinearProbe(eval));
            var knn = Read<KnnResult>(EvalFiles.Knn(eval));
            var ft = Read<FineTuneResult>(EvalFiles.FineTune(eval));
            var pixelProbe = Read<LinearProbeResult>(EvalFiles.LinearProbe(eval, EvalFiles.PixelsFloor));
            var pixelKnn = Read<KnnResult>(EvalFiles.Knn(eval, EvalFiles.PixelsFloor));
            var analysis = ReadAnalysis(Path.Combine(run.Root, RunReport.AnalysisFolder, AnalysisFile.FileName));
            var trained = analysis?.Series.FirstOrDefault()?.Report.Layers.LastOrDefault();
            var random = analysis?.RandomInitSeries()?.Report.Layers.LastOrDefault();
            if (pixels is null && (pixelProbe is not null || pixelKnn is not null))
                pixels = new PixelFloor(pixelProbe?.Top1, pixelKnn?.Top1, pixelProbe?.Data ?? pixelKnn?.Data);
            partial.Add(new ComparisonRow
            {
                Run = Path.GetFileName(run.Root.TrimEnd(Path.DirectorySeparatorChar)),
                Model = config?.Name,
                Blocks = config?.Kind.ToString().ToLowerInvariant(),
                ParamsTotal = counts?.Total,
                ParamsEncoder = counts?.EncoderTrainable,
                ParamsFractionOfLargest = null,
                PretrainEpochs = GetInt(summary, "epochs_completed"),
                PretrainWallSeconds = GetDouble(summary, "wall_seconds"),
                TestMaskedLoss = GetDouble(summary, "last_test_loss"),
                LinearProbe = probe?.Top1,
                LinearProbePooling = probe?.Pooling?.ToString().ToLowerInvariant(),
                Knn = knn?.Top1,
                FineTuneBest = ft is null ? null : SelectedTop1(ft),
                FineTuneLast = ft?.Top1,
                FineTuneEpochs = ft?.Epochs,
                LinearProbeRandomInit = Read<LinearProbeResult>(EvalFiles.LinearProbe(eval, EvalFiles.RandomFloor))?.Top1,
                KnnRandomInit = Read<KnnResult>(EvalFiles.Knn(eval, EvalFiles.RandomFloor))?.Top1,
                FineTuneRandomInitBest = Read<FineTuneResult>(EvalFiles.FineTune(eval, EvalFiles.RandomFloor)) is { } scratch ? SelectedTop1(scratch) : null,
                CodingRateLast = trained?.CodingRateMean,
                CodingRateLastRandomInit = random?.CodingRateMean,
                L0DensityLast = trained?.SparsityMean,
                L0DensityLastRandomInit = random?.SparsityMean,
                ForegroundRatioLast = trained?.ForegroundRatioMean,
                ForegroundRatioLastRandomInit = random?.ForegroundRatioMean,
            });
        }
        long largest = partial.Max(r => r.ParamsTotal ?? 0);
        var rows = partial.Select(r => r with
        {
            ParamsFractionOfLargest = r.ParamsTotal is { } t && largest > 0 ? (double)t / largest : null,
        }).ToList();
        return new RunComparison(rows, pixels);
    }

    public string ToJson()
    {
        var doc = new
        {
            schema_version = SchemaVersion,
            runs = Runs,
            pixels = Pixels,
        };
        return JsonSerializer.Serialize(doc, JsonOptions);
    }

    public string ToMarkdown()
    {
        var sb = new StringBuilder();
        sb.AppendLine("| run | model | params total / encoder | % of largest | pretrain epochs | pretrain wall | test masked loss | linear probe | k-NN | fine-tune best (last) |");
        sb.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in Runs)
        {
            var probe = Pct(r.LinearProbe) + (r.LinearProbePooling is { } p ? $" ({p})" : "");
            var ft = r.FineTuneBest is null ? "-" : $"{Pct(r.FineTuneBest)} ({Pct(r.FineTuneLast)}, {r.FineTuneEpochs} ep)";
            sb.AppendLine($"| {r.Run} | {r.Model ?? "-"} | {Count(r.ParamsTotal)} / {Count(r.ParamsEncoder)} | {Pct(r.ParamsFractionOfLargest, 0)} | " +
                          $"{(r.PretrainEpochs?.ToString(CultureInfo.InvariantCulture) ?? "-")} | {Wall(r.PretrainWallSeconds)} | " +
                          $"{Num(r.TestMaskedLoss)} | {probe} | {Pct(r.Knn)} | {ft} |");
        }
        sb.AppendLine();
        sb.AppendLine("Floors (the same evaluation without pre-training):");
        sb.AppendLine();
        sb.AppendLine("| features | linear probe | k-NN | fine-tune best |");
        sb.AppendLine("|---|---:|---:|---:|");
        foreach (var r in Runs)
            sb.AppendLine($"| {r.Run}: random-init {r.Model ?? "encoder"} | {Pct(r.LinearProbeRandomInit)} | {Pct(r.KnnRandomInit)} | {Pct(r.FineTuneRandomInitBest)} |");
        sb.AppendLine($"| raw pixels | {Pct(Pixels?.LinearProbe)} | {Pct(Pixels?.Knn)} | - |");
        sb.AppendLine();
        sb.AppendLine("White-box measures of the last encoder layer, trained / random init (analysis/analysis.json):");
        sb.AppendLine();
        sb.AppendLine("| run | Rᶜ | ℓ⁰ density | foreground ratio |");
        sb.AppendLine("|---|---:|---:|---:|");
        foreach (var r in Runs)
            sb.AppendLine($"| {r.Run} | {Pair(r.CodingRateLast, r.CodingRateLastRandomInit, "F1")} | {Pair(r.L0DensityLast, r.L0DensityLastRandomInit, "F3")} | " +
                          $"{Pair(r.ForegroundRatioLast, r.ForegroundRatioLastRandomInit, "F2")} |");
        return sb.ToString();
    }

    internal static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    private static string Pct(double? v, int decimals = 2) =>
        v is { } x ? (x * 100).ToString("F" + decimals, CultureInfo.InvariantCulture) + " %" : "-";

    private static string Pair(double? trained, double? random, string format) =>
        $"{Num(trained, format)} / {Num(random, format)}";

    private static string Num(double? v, string format = "F4") => v is { } x ? x.ToString(format, CultureInfo.InvariantCulture) : "-";

    private static string Count(long? v) => v is { } x ? x.ToString("N0", CultureInfo.InvariantCulture) : "-";

    private static string Wall(double? seconds) =>
        seconds is { } s ? TimeSpan.FromSeconds(Math.Round(s)).ToString(@"h\:mm\:ss", CultureInfo.InvariantCulture) : "-";

    private static MaeConfig? ReadConfig(string path)
    {
        var node = ReadObject(path);
        if (node?["model"] is not JsonObject model) return null;
        try
        {
            return MaeConfig.FromJson(model.ToJsonString(), path);
        }
        catch (Exception e) when (e is ArgumentException or JsonException or InvalidDataException)
        {
            throw new InvalidDataException($"{path}: the 'model' config cannot be read ({e.Message})", e);
        }
    }

    private static JsonObject? ReadObject(string path)
    {
        if (!File.Exists(path)) return null;
        try
        {
            return JsonNode.Parse(InputFile.ReadAllText(path, "run file")) as JsonObject
                   ?? throw new InvalidDataException($"{path}: expected a JSON object");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not valid JSON ({e.Message})", e);
        }
    }

    private static AnalysisFile? ReadAnalysis(string path)
    {
        if (!File.Exists(path)) return null;
        try
        {
            return AnalysisFile.Load(path);
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"{path}: {e.Message}", e);
        }
    }

    /// <summary>The test top-1 of the epoch the validation split chose, or the best test top-1 without one.</summary>
    private static double SelectedTop1(FineTuneResult ft) =>
        ft.BestValEpoch is { } e && e >= 1 && e <= ft.History.Count ? ft.History[e - 1].TestTop1 : ft.BestTop1;

    private static T? Read<T>(string path) where T : EvaluationResult
    {
        if (!File.Exists(path)) return null;
        try
        {
            return EvaluationResult.FromJson(InputFile.ReadAllText(path, "evaluation file")) as T
                   ?? throw new InvalidDataException($"{path}: holds a different kind of result than expected ({typeof(T).Name})");
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"{path}: {e.Message}", e);
        }
    }

    private static int? GetInt(JsonObject? o, string name) => o?[name] is JsonValue v && v.TryGetValue<int>(out var i) ? i : null;

    private static double? GetDouble(JsonObject? o, string name) => o?[name] is JsonValue v && v.TryGetValue<double>(out var d) ? d : null;
}
