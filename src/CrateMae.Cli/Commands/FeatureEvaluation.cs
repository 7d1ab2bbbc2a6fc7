using System.Globalization;
using System.Text.Json.Nodes;
using CrateMae.Data;
using CrateMae.Evaluation;
using CrateMae.Training;
using Spectre.Console;

namespace CrateMae.Cli.Commands;

/// <summary>One evaluated feature source: the result and where it was written.</summary>
/// <param name="Floor">null for the encoder, else <c>pixels</c> or <c>random</c>.</param>
/// <param name="Result">The schema record.</param>
/// <param name="Origin">How the features were obtained: cached, extracted or raw pixels.</param>
public sealed record EvaluatedVariant(string? Floor, EvaluationResult Result, string Origin);

/// <summary>The outcome of linprobe / knn: one or three variants and the files written.</summary>
public sealed record FeatureEvaluationOutcome(IReadOnlyList<EvaluatedVariant> Variants, IReadOnlyList<string> Files, int Extractions)
{
    /// <summary>With one variant its result JSON; with several an object <c>{"encoder": …, "random": …, "pixels": …}</c>.</summary>
    public string ToJson()
    {
        if (Variants.Count == 1) return Variants[0].Result.ToJson();
        var o = new JsonObject();
        foreach (var v in Variants) o[v.Floor ?? "encoder"] = JsonNode.Parse(v.Result.ToJson());
        return o.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true });
    }
}

/// <summary>The shared flow of linprobe and knn: features per variant → evaluate → write → print side by side.</summary>
public static class FeatureEvaluation
{
    public static FeatureEvaluationOutcome Run(string command, FloorSettings s, Reporter ui, Func<FeatureSplits, EvaluationResult> evaluate,
        Func<string, string?, IReadOnlyList<int>?, string?, string> defaultPath, CancellationToken cancellationToken)
    {
        var variants = s.Variants();
        using var provider = new FeatureProvider(s, ui, cancellationToken);
        if (provider.CheckpointPath is null && variants.Any(v => v is null))
            throw new ArgumentException("--checkpoint: required (a run folder or checkpoint); without one only '--floor pixels' or '--model M --floor random' can run");
        if (!s.Force) EnsureFits(command, s, provider, variants);
        var done = new List<EvaluatedVariant>();
        var files = new List<string>();
        foreach (var floor in variants)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var features = provider.TrainTest(floor, s.Pooling);
            CheckLabelled(features);
            ui.Info($"evaluating {features.Model} ({features.TrainX.shape[1]}-d features, {features.TrainX.shape[0]:N0} train / {features.TestX.shape[0]:N0} test)…");
            var result = evaluate(features) with
            {
                Source = features.Source, Data = features.Data, Layer = features.Layer, Layers = features.Layers, FeaturePrecision = features.Precision,
            };
            done.Add(new EvaluatedVariant(floor, result, features.Origin));
            if (s.Output is null && provider.EvalDir is { } dir)
            {
                var path = defaultPath(dir, floor, features.Layers ?? (features.Layer is { } l ? [l] : null), features.Precision);
                result.Save(path);
                files.Add(path);
            }
        }
        var outcome = new FeatureEvaluationOutcome(done, files, provider.Extractions);
        if (s.Output is { } outPath)
        {
            CrateMae.IO.AtomicFile.WriteAllText(outPath, outcome.ToJson() + "\n");
            files.Add(Path.GetFullPath(outPath));
        }
        else if (provider.EvalDir is null)
        {
            ui.Info("note: no --checkpoint, --eval-dir or --out, so the result is only printed");
        }
        return outcome;
    }

    /// <summary>
    /// Refuses, before any extraction, an evaluation whose model, features and probe would not fit in the available
    /// memory (<see cref="MemoryEstimate.FeatureEvaluation"/>; the widest variant counts: raw pixels are C·S² wide).
    /// </summary>
    private static void EnsureFits(string command, FloorSettings s, FeatureProvider provider, IReadOnlyList<string?> variants)
    {
        if (provider.CheckpointPath is null && s.Model is null) return;   // raw pixels alone: no model to size against
        var config = provider.Config;
        long images = provider.ImageCount(DataSplit.Train) + provider.ImageCount(DataSplit.Test);
        int pooled = (s.Pooling == Pooling.Grid ? 4 * config.EmbedDim : config.EmbedDim) * provider.Blocks.Count;
        int widest = variants.Contains(EvalFiles.PixelsFloor) ? Math.Max(pooled, config.InChans * config.ImgSize * config.ImgSize) : pooled;
        bool extracts = variants.Any(v => v != EvalFiles.PixelsFloor);
        MemoryEstimate.EnsureFits(command, MemoryEstimate.FeatureEvaluation(config, s.Batch, images, widest, extracts), s.Batch, bf16Activations: true);
    }

    private static void CheckLabelled(FeatureSplits f)
    {
        if (f.TrainY.numel() == 0 || f.TrainY.min().item<long>() < 0 || f.TestY.min().item<long>() < 0)
            throw new ArgumentException("--data: the dataset has unlabeled images; linear probe and k-NN need class labels " +
                                        "(an image folder needs one sub-folder per class)");
    }

    /// <summary>Prints the variants as one table (one row per feature source).</summary>
    public static void Print(Reporter ui, FeatureEvaluationOutcome outcome, string title)
    {
        var table = new Table().Title(title);
        table.AddColumns("features", "top-1");
        bool probe = outcome.Variants[0].Result is LinearProbeResult;
        if (probe) table.AddColumns("chosen λ", "val top-1", "iters");
        else table.AddColumns("top-5", "val top-1", "whitened");
        table.AddColumns("from", "s");
        foreach (var v in outcome.Variants)
        {
            var r = v.Result;
            var label = $"{Markup.Escape(r.Model)}\n[grey]{(r.Pooling is { } pool ? pool.ToString().ToLowerInvariant() + ", " : "")}{r.FeatureDim}-d[/]";
            var cells = new List<string> { label, $"[bold]{r.Top1 * 100:F2} %[/]" };
            switch (r)
            {
                case LinearProbeResult p:
                    cells.Add(p.ChosenReg.ToString("G3", CultureInfo.InvariantCulture));
                    cells.Add(p.ValCurve.Count == 0 ? "-" : $"{p.ValCurve.Max(c => c.ValTop1) * 100:F2} %");
                    cells.Add(p.Iterations.ToString(CultureInfo.InvariantCulture) + (p.Converged ? "" : " [yellow]![/]"));
                    break;
                case KnnResult k:
                    cells.Add(k.Top5 is { } t5 ? $"{t5 * 100:F2} %" : "-");
                    cells.Add(k.ValTop1 is { } v1 ? $"{v1 * 100:F2} %" : "-");
                    cells.Add(k.Whiten is { } w ? $"{w} components" : "no");
                    break;
            }
            cells.Add(v.Origin);
            cells.Add(r.Seconds.ToString("F1", CultureInfo.InvariantCulture));
            table.AddRow(cells.ToArray());
        }
        ui.Console.Write(table);
        var first = outcome.Variants[0].Result;
        ui.Info($"train {first.TrainSize:N0} / test {first.TestSize:N0} images; data: {first.Data}");
        if (outcome.Variants.Any(v => v.Result is LinearProbeResult { Converged: false }))
            ui.Info("! = L-BFGS stopped at its iteration cap before the gradient tolerance");
        if (first is KnnResult knn)
        {
            ui.Info($"k = {knn.K}, T = {knn.Temperature.ToString(CultureInfo.InvariantCulture)}" +
                    (knn.ValSize is { } held ? $"; validation: {held:N0} training images held out, scored against the rest" : ""));
            foreach (var v in outcome.Variants)
                if (v.Result is KnnResult { WhitenCurve: { } curve })
                    ui.Info($"{v.Result.Model}: validation top-1 by --whiten: " +
                            string.Join(", ", curve.Select(p => $"{p.Components} → {p.ValTop1 * 100:F2} %")));
        }
        foreach (var f in outcome.Files) ui.Info($"wrote {f}");
    }
}
