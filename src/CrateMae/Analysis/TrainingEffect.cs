using System.Globalization;

namespace CrateMae.Analysis;

/// <summary>
/// What training changed in the white-box measures: per encoder layer the trained model's R^c, ℓ⁰ density and
/// cls-attention foreground ratio next to those of a random init of the same config on the same images
/// (<see cref="LayerTrainingEffect"/>), and one plain-English <see cref="Summary"/> generated from those numbers.
/// </summary>
/// <remarks>
/// A layer counts as changed when the relative change |trained − random| / |random| exceeds
/// <see cref="NegligibleChange"/>; lower R^c = more compressed, lower ℓ⁰ density = sparser, higher foreground ratio =
/// cls attention more on the object. Layers without a foreground ratio in either model are left out of that part.
/// </remarks>
public sealed class TrainingEffect
{
    /// <summary>Largest relative change |Δ| / |random| that counts as "unchanged" (1 %).</summary>
    public const double NegligibleChange = 0.01;

    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    private TrainingEffect(string trainedName, string randomInitName, IReadOnlyList<LayerTrainingEffect> layers, string summary)
    {
        TrainedName = trainedName;
        RandomInitName = randomInitName;
        Layers = layers;
        Summary = summary;
    }

    /// <summary>Name of the trained series.</summary>
    public string TrainedName { get; }

    /// <summary>Name of the random-init series.</summary>
    public string RandomInitName { get; }

    /// <summary>One entry per encoder layer, ℓ = 1 … L.</summary>
    public IReadOnlyList<LayerTrainingEffect> Layers { get; }

    /// <summary>
    /// One sentence on what training changed, e.g. "Compared with the random init, training lowered Rᶜ (more
    /// compressed) in every layer by 12–40 % (last layer: 101 vs 184); …".
    /// </summary>
    public string Summary { get; }

    /// <summary>The analysed checkpoint (first series) against the file's random-init series; null when it has none.</summary>
    public static TrainingEffect? Of(AnalysisFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        var random = file.RandomInitSeries();
        return random is null || file.Series.Count == 0 ? null : Between(file.Series[0].Report, random.Report);
    }

    /// <summary>Per-layer contrast of <paramref name="trained"/> against <paramref name="randomInit"/> (same depth).</summary>
    /// <exception cref="ArgumentException">No layers, different depths, or a value that is not finite.</exception>
    public static TrainingEffect Between(WhiteBoxReport trained, WhiteBoxReport randomInit)
    {
        ArgumentNullException.ThrowIfNull(trained);
        ArgumentNullException.ThrowIfNull(randomInit);
        if (trained.Layers.Count == 0 || trained.Layers.Count != randomInit.Layers.Count)
            throw new ArgumentException(
                $"cannot contrast '{trained.Model}' ({trained.Layers.Count} layers) with '{randomInit.Model}' ({randomInit.Layers.Count} layers): " +
                "both need the same, non-zero number of layers");
        Check(trained);
        Check(randomInit);
        var layers = trained.Layers.Zip(randomInit.Layers, (t, r) => new LayerTrainingEffect(t.Layer,
            t.CodingRateMean, r.CodingRateMean, t.SparsityMean, r.SparsityMean, t.ForegroundRatioMean, r.ForegroundRatioMean)).ToArray();
        return new TrainingEffect(trained.Model, randomInit.Model, layers, Sentence(layers));
    }

    private static void Check(WhiteBoxReport report)
    {
        foreach (var l in report.Layers)
        {
            var bad = !double.IsFinite(l.CodingRateMean) ? "Rᶜ"
                : !double.IsFinite(l.SparsityMean) ? "ℓ⁰ density"
                : l.ForegroundRatioMean is { } f && !double.IsFinite(f) ? "foreground ratio" : null;
            if (bad is not null) throw new ArgumentException($"layer {l.Layer} of '{report.Model}': the {bad} is not a finite number");
        }
    }

    /// <summary>How a measure is named and read in the sentence.</summary>
    private sealed record Measure(string Name, string LowerMeans, string HigherMeans, Func<double, string> Format,
        Func<LayerTrainingEffect, (double Trained, double Random)?> Values);

    private static readonly Measure[] Measures =
    [
        new("Rᶜ", "more compressed", "less compressed", CodingRateText, l => (l.CodingRateTrained, l.CodingRateRandom)),
        new("the ℓ⁰ density of the block outputs", "sparser", "denser", v => v.ToString("F3", Inv), l => (l.DensityTrained, l.DensityRandom)),
        new("the cls-attention foreground ratio", "away from the object", "toward the object", v => v.ToString("F2", Inv),
            l => l.ForegroundRatioTrained is { } t && l.ForegroundRatioRandom is { } r ? (t, r) : null),
    ];

    private static string Sentence(IReadOnlyList<LayerTrainingEffect> layers)
    {
        var clauses = Measures.Select(m => Clause(m, layers)).OfType<string>().ToList();
        return "Compared with the random init, training " + Join(clauses, "; ", "; and ") + ".";
    }

    /// <summary>
    /// "lowered NAME (MEANING) in LAYERS by A–B % and raised it (MEANING) in LAYERS by C–D % (last layer: T vs R)", or
    /// null when no layer has the measure.
    /// </summary>
    private static string? Clause(Measure m, IReadOnlyList<LayerTrainingEffect> layers)
    {
        var known = layers.Select(l => (l.Layer, Values: m.Values(l))).Where(x => x.Values is not null)
            .Select(x => (x.Layer, Relative: LayerTrainingEffect.Relative(x.Values!.Value.Trained, x.Values.Value.Random))).ToList();
        if (known.Count == 0) return null;
        var lower = known.Where(x => x.Relative < -NegligibleChange).ToList();
        var higher = known.Where(x => x.Relative > NegligibleChange).ToList();
        var same = known.Where(x => Math.Abs(x.Relative) <= NegligibleChange).Select(x => x.Layer).ToList();
        var groups = new[] { ("lowered", m.LowerMeans, lower), ("raised", m.HigherMeans, higher) }
            .Where(g => g.Item3.Count > 0).OrderByDescending(g => g.Item3.Count).ToList();
        var parts = new List<string>();
        foreach (var (verb, meaning, group) in groups)
            parts.Add($"{verb} {(parts.Count == 0 ? m.Name : "it")} ({meaning}) in {LayerList(group.Select(x => x.Layer).ToList(), layers.Count)}{Amount(group.Select(x => x.Relative))}");
        if (same.Count > 0)
            parts.Add($"left {(parts.Count == 0 ? m.Name : "it")} within {NegligibleChange * 100:F0} % in {LayerList(same, layers.Count)}");
        var last = layers.Last(l => m.Values(l) is not null);
        var (trained, random) = m.Values(last)!.Value;
        string where = last.Layer == layers[^1].Layer ? "last layer" : $"layer {last.Layer}";
        return $"{Join(parts, ", ", " and ")} ({where}: {m.Format(trained)} vs {m.Format(random)})";
    }

    /// <summary>" by 12–40 %" from relative changes (infinite ones, from a random-init value of 0, are left out).</summary>
    private static string Amount(IEnumerable<double> relative)
    {
        var percent = relative.Where(double.IsFinite).Select(r => Math.Abs(r) * 100).ToList();
        if (percent.Count == 0) return "";
        string lo = Percent(percent.Min()), hi = Percent(percent.Max());
        return lo == hi ? $" by {lo} %" : $" by {lo}–{hi} %";
    }

    private static string Percent(double p) => p.ToString(p < 10 ? "F1" : "F0", Inv);

    /// <summary>"every layer", "layer 4", "layers 1–3, 5 and 7" (runs of consecutive layers as ranges).</summary>
    private static string LayerList(IReadOnlyList<int> layers, int depth)
    {
        if (layers.Count == depth && depth > 1) return "every layer";
        if (layers.Count == 1) return $"layer {layers[0]}";
        var runs = new List<string>();
        for (int i = 0; i < layers.Count;)
        {
            int j = i;
            while (j + 1 < layers.Count && layers[j + 1] == layers[j] + 1) j++;
            runs.Add(j == i ? $"{layers[i]}" : $"{layers[i]}–{layers[j]}");
            i = j + 1;
        }
        return "layers " + Join(runs, ", ", " and ");
    }

    /// <summary>Rᶜ with three significant figures without an exponent: 184, 10.5, 2.31.</summary>
    private static string CodingRateText(double v) => v.ToString(Math.Abs(v) >= 100 ? "F0" : Math.Abs(v) >= 10 ? "F1" : "F2", Inv);

    private static string Join(IReadOnlyList<string> items, string separator, string lastSeparator) =>
        items.Count <= 1 ? string.Concat(items) : string.Join(separator, items.Take(items.Count - 1)) + lastSeparator + items[^1];
}
