using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using CrateMae.Analysis;
using CrateMae.IO;
using CrateMae.Training;

namespace CrateMae.Reporting;

/// <summary>
/// <c>crate-mae report</c>: one self-contained HTML page about a run folder — configuration, summary, metrics per
/// epoch, loss curve, reconstructions (first and last epoch), white-box analysis, attention maps, PCA and evaluation
/// results. No external assets: PNGs are embedded as base64 data URIs, the CSS is inline, there is no script. A
/// section whose files are missing says which files and how to make them.
/// </summary>
public static class RunReport
{
    /// <summary>Folder of the analysis outputs inside a run folder.</summary>
    public const string AnalysisFolder = "analysis";

    /// <summary>File names the report picks up from the analysis folder.</summary>
    public const string AttentionPng = "attention.png", AttentionJson = "attention.json", PcaPng = "pca.png", PcaJson = "pca.json";

    /// <summary>Every section heading, in page order (each appears exactly once as an &lt;h2&gt;).</summary>
    public static IReadOnlyList<string> Sections { get; } =
    [
        "Configuration", "Summary", "Metrics per epoch", "Loss curve", "Reconstructions",
        "White-box analysis", "Attention maps", "PCA of patch features", "Evaluation",
    ];

    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>Builds the page for <paramref name="runDir"/>.</summary>
    /// <param name="runDir">The run folder.</param>
    /// <param name="notes">Extra lines for the header (e.g. what was computed for this report, or why not).</param>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    public static string Build(string runDir, IReadOnlyList<string>? notes = null)
    {
        var run = new RunFolder(runDir);
        if (!Directory.Exists(run.Root)) throw new DirectoryNotFoundException($"run folder {runDir} does not exist");
        var analysis = Path.Combine(run.Root, AnalysisFolder);
        var name = Path.GetFileName(run.Root.TrimEnd(Path.DirectorySeparatorChar));
        var html = new StringBuilder();
        html.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
            .Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
            .Append("<title>CRATE-MAE run report: ").Append(E(name)).Append("</title>\n<style>\n").Append(Css).Append("</style>\n</head>\n<body>\n");
        html.Append("<header>\n<h1>CRATE-MAE run report: ").Append(E(name)).Append("</h1>\n<p class=\"meta\">run folder <code>")
            .Append(E(run.Root)).Append("</code> · generated ").Append(E(DateTime.Now.ToString("yyyy-MM-dd HH:mm", Inv))).Append("</p>\n");
        foreach (var n in notes ?? []) html.Append("<p class=\"note\">").Append(E(n)).Append("</p>\n");
        html.Append("<nav>");
        for (int i = 0; i < Sections.Count; i++)
            html.Append(i == 0 ? "" : " · ").Append("<a href=\"#").Append(Id(Sections[i])).Append("\">").Append(E(Sections[i])).Append("</a>");
        html.Append("</nav>\n</header>\n<main>\n");

        Section(html, "Configuration", () => ConfigSection(run));
        Section(html, "Summary", () => SummarySection(run));
        Section(html, "Metrics per epoch", () => MetricsSection(run));
        Section(html, "Loss curve", () => File.Exists(run.LossPlot)
            ? Figure(run.LossPlot, "Masked-patch loss: training loss per logged step and test loss per epoch.")
            : Missing("loss.png", "pretrain writes it after every epoch"));
        Section(html, "Reconstructions", () => ReconstructionSection(run));
        Section(html, "White-box analysis", () => AnalysisSection(run, analysis));
        Section(html, "Attention maps", () => AttentionSection(run, analysis));
        Section(html, "PCA of patch features", () => PcaSection(run, analysis));
        Section(html, "Evaluation", () => EvaluationSection(run));
        html.Append("</main>\n</body>\n</html>\n");
        return html.ToString();
    }

    /// <summary>Writes <see cref="Build"/> atomically to <paramref name="path"/>.</summary>
    public static void Save(string path, string runDir, IReadOnlyList<string>? notes = null) =>
        AtomicFile.WriteAllText(path, Build(runDir, notes));

    private const string Css = """
        body { font-family: "DejaVu Sans", "Helvetica Neue", Arial, sans-serif; margin: 0; color: #1f2328; background: #f6f8fa; line-height: 1.45; }
        header { background: #24292f; color: #fff; padding: 16px 28px; }
        header h1 { margin: 0 0 4px 0; font-size: 22px; }
        header .meta, header .note { margin: 2px 0; font-size: 13px; color: #d0d7de; }
        header code { color: #fff; }
        nav { margin-top: 8px; font-size: 13px; }
        nav a { color: #9ecbff; text-decoration: none; }
        main { padding: 8px 28px 40px 28px; max-width: 1200px; }
        section { background: #fff; border: 1px solid #d0d7de; border-radius: 6px; padding: 12px 20px; margin: 16px 0; }
        h2 { font-size: 18px; margin: 4px 0 10px 0; border-bottom: 1px solid #d8dee4; padding-bottom: 4px; }
        h3 { font-size: 15px; margin: 14px 0 6px 0; }
        table { border-collapse: collapse; font-size: 13px; margin: 6px 0 10px 0; }
        th, td { border: 1px solid #d0d7de; padding: 3px 8px; text-align: right; }
        th { background: #f6f8fa; }
        td.k, th.k { text-align: left; font-family: "DejaVu Sans Mono", monospace; }
        td.s { text-align: left; }
        td.nw { white-space: nowrap; }
        figure { margin: 8px 0 14px 0; }
        figure img { max-width: 100%; height: auto; border: 1px solid #d8dee4; image-rendering: pixelated; }
        figcaption { font-size: 13px; color: #57606a; }
        .row { display: flex; flex-wrap: wrap; gap: 16px; }
        .row figure { flex: 1 1 440px; }
        .missing { color: #9a6700; background: #fff8c5; border: 1px solid #d4a72c; border-radius: 4px; padding: 6px 10px; font-size: 13px; }
        .good { color: #1a7f37; font-weight: bold; }
        pre { background: #f6f8fa; padding: 8px; overflow-x: auto; font-size: 12px; }
        """;

    private static void Section(StringBuilder html, string title, Func<string> body)
    {
        string content;
        try
        {
            content = body();
        }
        catch (Exception e) when (e is IOException or JsonException or ArgumentException or InvalidOperationException or UnauthorizedAccessException)
        {
            content = $"<p class=\"missing\">could not read this section's files: {E(e.Message)}</p>";
        }
        html.Append("<section id=\"").Append(Id(title)).Append("\">\n<h2>").Append(E(title)).Append("</h2>\n").Append(content).Append("</section>\n");
    }

    private static string ConfigSection(RunFolder run)
    {
        if (!File.Exists(run.ConfigJson)) return Missing("config.json", "pretrain writes it when a run starts");
        var root = JsonNode.Parse(File.ReadAllText(run.ConfigJson)) as JsonObject
                   ?? throw new InvalidOperationException("config.json is not a JSON object");
        var sb = new StringBuilder("<div class=\"row\">");
        var scalars = root.Where(kv => kv.Value is not JsonObject).ToList();
        if (scalars.Count > 0) sb.Append("<div><h3>run</h3>").Append(KeyValues(scalars)).Append("</div>");
        foreach (var (key, value) in root)
            if (value is JsonObject obj)
                sb.Append("<div><h3>").Append(E(key)).Append("</h3>").Append(KeyValues(obj.ToList())).Append("</div>");
        return sb.Append("</div>\n").ToString();
    }

    private static string SummarySection(RunFolder run)
    {
        if (!File.Exists(run.Summary)) return Missing("summary.json", "pretrain writes it when training ends (an interrupted or running run has none yet)");
        var root = JsonNode.Parse(File.ReadAllText(run.Summary)) as JsonObject
                   ?? throw new InvalidOperationException("summary.json is not a JSON object");
        return KeyValues(root.ToList());
    }

    private static string MetricsSection(RunFolder run)
    {
        if (!File.Exists(run.Metrics)) return Missing("metrics.jsonl", "pretrain appends a line per logged step and per epoch");
        var records = MetricsLog.Read(run.Metrics);
        var epochs = records.Where(r => (string?)r["type"] == "epoch").ToList();
        int steps = records.Count(r => (string?)r["type"] == "step");
        if (epochs.Count == 0) return Missing("epoch lines in metrics.jsonl", $"the file has {steps} step lines but no finished epoch");
        var columns = epochs.SelectMany(r => r.Select(kv => kv.Key)).Where(k => k != "type").Distinct().ToList();
        var sb = new StringBuilder("<table>\n<tr>");
        foreach (var c in columns) sb.Append("<th>").Append(E(c)).Append("</th>");
        sb.Append("</tr>\n");
        foreach (var r in epochs)
        {
            sb.Append("<tr>");
            foreach (var c in columns) sb.Append("<td>").Append(E(Format(r[c]))).Append("</td>");
            sb.Append("</tr>\n");
        }
        sb.Append("</table>\n<p>").Append(epochs.Count).Append(" epoch lines (epoch 0 = before training), ").Append(steps)
          .Append(" step lines in <code>metrics.jsonl</code>.</p>\n");
        return sb.ToString();
    }

    private static string ReconstructionSection(RunFolder run)
    {
        var files = Directory.Exists(run.Reconstructions)
            ? Directory.GetFiles(run.Reconstructions, "epoch-*.png").Order(StringComparer.Ordinal).ToList()
            : [];
        if (files.Count == 0) return Missing("reconstructions/epoch-NNN.png", "pretrain writes one per epoch");
        var shown = files.Count == 1 ? files : [files[0], files[^1]];
        var sb = new StringBuilder("<div class=\"row\">");
        foreach (var f in shown)
            sb.Append(Figure(f, $"{Path.GetFileNameWithoutExtension(f)} (fixed test images): original | masked | reconstruction | reconstruction + visible patches"));
        sb.Append("</div>\n");
        if (files.Count > 2)
            sb.Append("<p>").Append(files.Count - 2).Append(files.Count == 3 ? " intermediate epoch is" : " intermediate epochs are").Append(" in <code>reconstructions/</code>.</p>\n");
        return sb.ToString();
    }

    private static string AnalysisSection(RunFolder run, string folder)
    {
        var json = Path.Combine(folder, AnalysisFile.FileName);
        var rc = Path.Combine(folder, LayerCurvePlot.CodingRatePng);
        var sp = Path.Combine(folder, LayerCurvePlot.SparsityPng);
        var sb = new StringBuilder();
        var missing = new[] { json, rc, sp }.Where(f => !File.Exists(f)).ToList();
        if (missing.Count == 3) return Missing($"{AnalysisFolder}/{AnalysisFile.FileName}, {LayerCurvePlot.CodingRatePng}, {LayerCurvePlot.SparsityPng}", $"run: crate-mae analyze --checkpoint {run.Root} --random-init");
        if (missing.Count > 0)
            sb.Append(Missing(string.Join(", ", missing.Select(Path.GetFileName)), $"run: crate-mae analyze --checkpoint {run.Root} --random-init"));
        sb.Append("<div class=\"row\">");
        if (File.Exists(rc)) sb.Append(Figure(rc, "Coding rate Rᶜ of each layer's MSSA input projection (spec §7.1); lower = more compressed. Error bars: std over images."));
        if (File.Exists(sp)) sb.Append(Figure(sp, "ℓ⁰ density of each block's output (1 − share of exact zeros, spec §7.2); lower = sparser."));
        sb.Append("</div>\n");
        if (!File.Exists(json)) return sb.ToString();
        var file = AnalysisFile.Load(json);
        sb.Append("<p>").Append(file.Images).Append(" images of <code>").Append(E(file.Data)).Append("</code>, ").Append(E(file.TokenPath))
          .Append(" path, ε = ").Append(file.Series.Count > 0 ? file.Series[0].Report.Epsilon.ToString("G3", Inv) : "?").Append("; mean ± std over images.</p>\n");
        bool foreground = file.Series.Any(s => s.Report.Layers.Any(l => l.ForegroundRatioMean is not null));
        int columns = foreground ? 3 : 2;
        sb.Append("<table>\n<tr><th rowspan=\"2\">layer ℓ</th>");
        foreach (var s in file.Series) sb.Append("<th colspan=\"").Append(columns).Append("\">").Append(E(s.Name)).Append("</th>");
        sb.Append("</tr>\n<tr>");
        foreach (var _ in file.Series) sb.Append("<th>Rᶜ</th><th>ℓ⁰ density</th>").Append(foreground ? "<th>fg ratio</th>" : "");
        sb.Append("</tr>\n");
        int depth = file.Series.Count == 0 ? 0 : file.Series.Max(s => s.Report.Layers.Count);
        for (int l = 0; l < depth; l++)
        {
            sb.Append("<tr><td>").Append(l + 1).Append("</td>");
            foreach (var s in file.Series)
            {
                if (l >= s.Report.Layers.Count) { sb.Append(string.Concat(Enumerable.Repeat("<td></td>", columns))); continue; }
                var x = s.Report.Layers[l];
                sb.Append("<td>").Append(F(x.CodingRateMean, "F2")).Append(" ± ").Append(F(x.CodingRateStd, "F2")).Append("</td>")
                  .Append("<td>").Append(F(x.SparsityMean, "F3")).Append(" ± ").Append(F(x.SparsityStd, "F3")).Append("</td>");
                if (foreground)
                    sb.Append("<td>").Append(x.ForegroundRatioMean is { } m ? $"{F(m, "F3")} ± {F(x.ForegroundRatioStd ?? double.NaN, "F3")}" : "—").Append("</td>");
            }
            sb.Append("</tr>\n");
        }
        sb.Append("</table>\n");
        if (foreground)
            sb.Append("<p>fg ratio = cls-attention foreground ratio of the block (head mean; share of attention on foreground patches / share of foreground patches, 1 = no preference; — = no image with both foreground and background patches).</p>\n");
        var effect = TrainingEffect.Of(file);
        return effect is null ? sb.ToString() : sb.Append(TrainingEffectTable(effect)).ToString();
    }

    /// <summary>The trained-vs-random-init sentence and per-layer table (values, Δ = trained − random and Δ relative to random).</summary>
    private static string TrainingEffectTable(TrainingEffect effect)
    {
        var sb = new StringBuilder("<h3>Trained vs random init</h3>\n<p>").Append(E(effect.Summary)).Append("</p>\n");
        bool foreground = effect.Layers.Any(l => l.ForegroundRatioChange is not null);
        sb.Append("<table>\n<tr><th rowspan=\"2\">layer ℓ</th><th colspan=\"3\">Rᶜ</th><th colspan=\"3\">ℓ⁰ density</th>")
          .Append(foreground ? "<th colspan=\"3\">fg ratio</th>" : "").Append("</tr>\n<tr>");
        sb.Append(string.Concat(Enumerable.Repeat("<th>trained</th><th>random init</th><th>Δ</th>", foreground ? 3 : 2)));
        sb.Append("</tr>\n");
        foreach (var l in effect.Layers)
        {
            sb.Append("<tr><td>").Append(l.Layer).Append("</td>");
            Triple(l.CodingRateTrained, l.CodingRateRandom, l.CodingRateChange, l.CodingRateRelativeChange, "F2");
            Triple(l.DensityTrained, l.DensityRandom, l.DensityChange, l.DensityRelativeChange, "F3");
            if (foreground)
                Triple(l.ForegroundRatioTrained, l.ForegroundRatioRandom, l.ForegroundRatioChange, l.ForegroundRatioRelativeChange, "F3");
            sb.Append("</tr>\n");
        }
        return sb.Append("</table>\n<p>Δ = trained − random init (relative to the random init). Lower Rᶜ = more compressed, lower ℓ⁰ density = sparser, higher fg ratio = cls attention more on the object. Changes within ")
                 .Append((TrainingEffect.NegligibleChange * 100).ToString("F0", Inv)).Append(" % count as unchanged in the sentence.</p>\n").ToString();

        void Triple(double? trained, double? random, double? change, double? relative, string format)
        {
            sb.Append("<td>").Append(trained is { } t ? F(t, format) : "—").Append("</td><td>").Append(random is { } r ? F(r, format) : "—")
              .Append("</td><td class=\"nw\">").Append(change is { } d ? Signed(d, format) + (relative is { } p && double.IsFinite(p) ? $" ({Signed(100 * p, "F1")} %)" : "") : "—")
              .Append("</td>");
        }
    }

    /// <summary>A difference with its sign (+ or −).</summary>
    private static string Signed(double v, string format) =>
        !double.IsFinite(v) ? "—" : v > 0 ? "+" + v.ToString(format, Inv) : v < 0 ? "−" + (-v).ToString(format, Inv) : v.ToString(format, Inv);

    private static string AttentionSection(RunFolder run, string folder)
    {
        var png = Path.Combine(folder, AttentionPng);
        var json = Path.Combine(folder, AttentionJson);
        var how = $"run: crate-mae attention --checkpoint {run.Root} --random-init";
        if (!File.Exists(png) && !File.Exists(json)) return Missing($"{AnalysisFolder}/{AttentionPng}", how);
        var sb = new StringBuilder();
        AttentionSummary? summary = File.Exists(json) ? AttentionSummary.FromJson(File.ReadAllText(json)) : null;
        if (File.Exists(png))
            sb.Append(Figure(png, summary is null
                ? "cls-token attention of every head of the last encoder block, and the head mean."
                : $"cls-token attention of every head of encoder block {summary.Layer} ({summary.Heads} heads, {summary.Grid[0]}×{summary.Grid[1]} patches) on the unmasked path, each map min–max normalised (jet: blue = low, red = high), and the head mean."));
        else sb.Append(Missing($"{AnalysisFolder}/{AttentionPng}", how));
        if (summary is null) return sb.Append(Missing($"{AnalysisFolder}/{AttentionJson}", how)).ToString();
        sb.Append("<p>Foreground ratio = (share of cls attention on foreground patches) / (share of foreground patches); foreground = patches with a pixel that differs from the image's border colour. 1 = no preference, &gt; 1 = attention concentrates on the object, &lt; 1 = on the background (either way far from 1 means the map separates object and background).</p>\n");
        sb.Append("<table>\n<tr><th class=\"k\">images</th><th>ratio (head mean)</th><th>std</th><th>images used</th><th>skipped</th><th>foreground share</th><th>per head</th></tr>\n");
        void Row(string what, ForegroundSummary? r)
        {
            if (r is null) return;
            sb.Append("<tr><td class=\"k\">").Append(E(what)).Append("</td><td")
              .Append(r.Mean > 1 ? " class=\"good\"" : "").Append('>').Append(F(r.Mean, "F3")).Append("</td><td>").Append(F(r.Std, "F3"))
              .Append("</td><td>").Append(r.Images).Append("</td><td>").Append(r.Skipped).Append("</td><td>").Append(F(r.ForegroundShare, "P0"))
              .Append("</td><td class=\"nw\">").Append(E(string.Join(", ", r.PerHeadMean.Select(v => F(v, "F2"))))).Append("</td></tr>\n");
        }
        Row("shown images", summary.ShownRatio);
        Row(summary.Data ?? "dataset", summary.DatasetRatio);
        Row("random init, same images", summary.RandomInitRatio);
        return sb.Append("</table>\n").ToString();
    }

    private static string PcaSection(RunFolder run, string folder)
    {
        var png = Path.Combine(folder, PcaPng);
        var json = Path.Combine(folder, PcaJson);
        if (!File.Exists(png)) return Missing($"{AnalysisFolder}/{PcaPng}", $"run: crate-mae pca --checkpoint {run.Root}");
        var caption = "PCA of the last block's patch features fitted over all shown images: the RGB composite of three components, then each component (min–max per image).";
        if (File.Exists(json) && JsonNode.Parse(File.ReadAllText(json)) is JsonObject o && o["explained_variance_ratio"] is JsonArray ev)
            caption += $" Block {Format(o["layer"])}, {Format(o["descriptors"])} descriptors; explained variance " +
                       string.Join(", ", ev.Select(v => v!.GetValue<double>().ToString("P1", Inv))) + ".";
        return Figure(png, caption);
    }

    private static string EvaluationSection(RunFolder run)
    {
        var dir = Path.Combine(run.Root, "eval");
        var files = Directory.Exists(dir) ? Directory.GetFiles(dir, "*.json").Order(StringComparer.Ordinal).ToList() : [];
        if (files.Count == 0) return Missing("eval/*.json", "the evaluation commands (linear probe, k-NN, fine-tuning) write their results there");
        var sb = new StringBuilder();
        foreach (var f in files)
        {
            sb.Append("<h3>").Append(E(Path.GetFileName(f))).Append("</h3>\n");
            try
            {
                if (JsonNode.Parse(File.ReadAllText(f)) is not JsonObject o) { sb.Append(Missing(Path.GetFileName(f), "is not a JSON object")); continue; }
                sb.Append(KeyValues(o.ToList()));
            }
            catch (JsonException e)
            {
                sb.Append("<p class=\"missing\">not valid JSON: ").Append(E(e.Message)).Append("</p>\n");
            }
        }
        return sb.ToString();
    }

    private static string KeyValues(IEnumerable<KeyValuePair<string, JsonNode?>> pairs)
    {
        var sb = new StringBuilder("<table>\n");
        foreach (var (k, v) in pairs)
            sb.Append("<tr><td class=\"k\">").Append(E(k)).Append("</td><td class=\"s\">").Append(E(Format(v))).Append("</td></tr>\n");
        return sb.Append("</table>\n").ToString();
    }

    private static string Format(JsonNode? node)
    {
        switch (node)
        {
            case null: return "—";
            case JsonValue v when v.TryGetValue<long>(out var l): return l.ToString(Inv);
            case JsonValue v when v.TryGetValue<double>(out var d): return d.ToString("G6", Inv);
            case JsonValue v when v.TryGetValue<bool>(out var b): return b ? "true" : "false";
            case JsonValue v when v.TryGetValue<string>(out var s): return s;
            default:
                var text = node.ToJsonString();
                return text.Length > 300 ? text[..300] + " …" : text;
        }
    }

    private static string F(double v, string format) => double.IsFinite(v) ? v.ToString(format, Inv) : "—";

    private static string Figure(string png, string caption) =>
        $"<figure><img alt=\"{E(Path.GetFileName(png))}\" src=\"data:image/png;base64,{Convert.ToBase64String(File.ReadAllBytes(png))}\">" +
        $"<figcaption>{E(caption)} <code>{E(Path.GetFileName(png))}</code></figcaption></figure>\n";

    private static string Missing(string what, string how) => $"<p class=\"missing\">missing: {E(what)} — {E(how)}</p>\n";

    private static string Id(string title) => new(title.ToLowerInvariant().Select(c => char.IsAsciiLetterOrDigit(c) ? c : '-').ToArray());

    private static string E(string? s) => WebUtility.HtmlEncode(s ?? "");
}
