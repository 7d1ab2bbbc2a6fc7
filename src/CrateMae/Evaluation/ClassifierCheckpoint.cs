using System.Text.Json;
using CrateMae.Data;
using CrateMae.Interop;
using CrateMae.Models;
using CrateMae.Training;
using static TorchSharp.torch;

namespace CrateMae.Evaluation;

/// <summary>
/// A fine-tuned classifier on disk: a safetensors file with the autoencoder's weights (<c>mae.KEY</c>, decoder
/// included so the model loads strictly) and the head (<c>head.weight</c>, <c>head.bias</c>); metadata <c>format</c>
/// (<c>crate-mae-classifier/1</c>), <c>config</c>, <c>num_classes</c>, <c>class_names</c> (JSON array), optional
/// <c>normalization</c> and free-form extras (epoch, top-1). Written atomically.
/// </summary>
public static class ClassifierCheckpoint
{
    public const string Format = "crate-mae-classifier/1";

    public static void Save(string path, FineTuneClassifier model, IReadOnlyList<string> classNames, NormalizationStats? normalization = null,
        IReadOnlyDictionary<string, string>? extra = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(classNames);
        using var scope = NewDisposeScope();
        var tensors = model.Encoder.OrderedStateDict().Select(kv => ("mae." + kv.Key, kv.Value.detach().cpu())).ToList();
        tensors.Add(("head.weight", model.Head.weight!.detach().cpu()));
        tensors.Add(("head.bias", model.Head.bias!.detach().cpu()));
        var meta = new Dictionary<string, string>
        {
            ["format"] = Format,
            ["config"] = model.Encoder.Config.ToJson(),
            ["num_classes"] = model.NumClasses.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["class_names"] = JsonSerializer.Serialize(classNames),
        };
        if (normalization is not null) meta["normalization"] = JsonSerializer.Serialize(new { mean = normalization.Mean, std = normalization.Std });
        if (extra is not null) foreach (var (k, v) in extra) meta[k] = v;
        Safetensors.Save(path, tensors, meta);
    }

    /// <summary>A loaded classifier with its class names and normalisation.</summary>
    public sealed record Loaded(FineTuneClassifier Model, IReadOnlyList<string> ClassNames, NormalizationStats? Normalization,
        IReadOnlyDictionary<string, string> Metadata) : IDisposable
    {
        public void Dispose() => Model.Dispose();
    }

    public static Loaded Load(string path)
    {
        using var content = Safetensors.Load(path);
        var meta = content.Metadata;
        if (!meta.TryGetValue("format", out var format) || format != Format)
            throw new InvalidDataException($"{path}: not a CrateMae classifier (metadata 'format' is '{format ?? "missing"}', expected '{Format}')");
        if (!meta.TryGetValue("config", out var configJson) || !meta.TryGetValue("num_classes", out var nc) ||
            !int.TryParse(nc, System.Globalization.CultureInfo.InvariantCulture, out int numClasses))
            throw new InvalidDataException($"{path}: classifier metadata lacks 'config' or 'num_classes'");
        var config = MaeConfig.FromJson(configJson, path + " (config)");
        var names = meta.TryGetValue("class_names", out var n) ? JsonSerializer.Deserialize<string[]>(n) ?? [] : [];
        var mae = new MaskedAutoencoder(config);
        StateDictLoader.LoadInto(mae, content.Tensors.Where(t => t.Key.StartsWith("mae.", StringComparison.Ordinal))
            .Select(t => (t.Key[4..], t.Value)).ToList(), path);
        var model = new FineTuneClassifier(mae, numClasses);
        var byKey = content.Tensors.ToDictionary(t => t.Key, t => t.Value);
        if (!byKey.TryGetValue("head.weight", out var w) || !byKey.TryGetValue("head.bias", out var b) ||
            !w.shape.SequenceEqual(model.Head.weight!.shape) || !b.shape.SequenceEqual(model.Head.bias!.shape))
            throw new InvalidDataException($"{path}: head.weight / head.bias missing or not [{numClasses}, {config.EmbedDim}] / [{numClasses}]");
        using (no_grad())
        {
            model.Head.weight!.copy_(w);
            model.Head.bias!.copy_(b);
        }
        return new Loaded(model, names, RunArtifacts.NormalizationFrom(meta), meta);
    }
}
