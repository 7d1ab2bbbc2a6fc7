using System.Text.Json;
using System.Text.Json.Nodes;
using CrateMae.Data;
using CrateMae.IO;
using CrateMae.Models;
using CrateMae.Reporting;
using static TorchSharp.torch;

namespace CrateMae.Training;

/// <summary>
/// The human-facing files of a run folder: <c>config.json</c>, <c>loss.png</c>, reconstruction grids and
/// <c>summary.json</c>. Knows the data normalisation so images are shown in pixel space.
/// </summary>
public sealed class RunArtifacts(NormalizationStats normalization, string dataDescription)
{
    private Tensor? _fixedImages;

    public NormalizationStats Normalization { get; } = normalization;
    /// <summary>Image files left out of the training data (<c>--skip-bad-images</c>); listed in config.json.</summary>
    public IReadOnlyList<BadImage> SkippedImages { get; init; } = [];
    public string DataDescription { get; } = dataDescription;
    /// <summary>The data options the run was started with; recorded in config.json so a resume reopens the same data.</summary>
    public RunDataSource? DataSource { get; init; }

    /// <summary>Metadata stored in every checkpoint so later commands can normalise images like training did.</summary>
    public IReadOnlyDictionary<string, string> CheckpointMetadata => new Dictionary<string, string>
    {
        ["normalization"] = JsonSerializer.Serialize(new { mean = Normalization.Mean, std = Normalization.Std }),
        ["data"] = DataDescription,
    };

    /// <summary>Reads the normalisation stored by <see cref="CheckpointMetadata"/>, if any.</summary>
    public static NormalizationStats? NormalizationFrom(IReadOnlyDictionary<string, string> metadata, string? source = null)
    {
        if (!metadata.TryGetValue("normalization", out var json)) return null;
        try
        {
            var node = JsonNode.Parse(json)!;
            var stats = new NormalizationStats(node["mean"]!.AsArray().Select(v => v!.GetValue<float>()).ToArray(),
                                               node["std"]!.AsArray().Select(v => v!.GetValue<float>()).ToArray());
            stats.Validate();
            return stats;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException or NullReferenceException or ArgumentException)
        {
            throw new InvalidDataException($"{(source is null ? "" : source + ": ")}the stored normalization '{Truncate(json)}' is not {{\"mean\": [..], \"std\": [..]}} with finite means and positive stds ({e.Message})", e);
        }
    }

    private static string Truncate(string s) => s.Length <= 80 ? s : s[..80] + "…";

    public void WriteConfig(RunFolder run, MaeConfig config, PretrainOptions options)
    {
        var doc = new JsonObject
        {
            ["model"] = JsonNode.Parse(config.ToJson()),
            ["training"] = JsonNode.Parse(JsonSerializer.Serialize(options, MaeConfig.JsonOptions)),
            ["data"] = DataDescription,
            ["data_source"] = DataSource is null ? null : JsonNode.Parse(JsonSerializer.Serialize(DataSource, MaeConfig.JsonOptions)),
            ["normalization"] = new JsonObject
            {
                ["mean"] = new JsonArray(Normalization.Mean.Select(v => (JsonNode)JsonValue.Create(v)!).ToArray()),
                ["std"] = new JsonArray(Normalization.Std.Select(v => (JsonNode)JsonValue.Create(v)!).ToArray()),
            },
            ["skipped_images"] = SkippedImages.Count,
            ["skipped_image_files"] = new JsonArray(SkippedImages.Select(b => (JsonNode)new JsonObject
            {
                ["path"] = b.Path, ["reason"] = b.Reason,
            }).ToArray()),
            ["effective_batch"] = options.EffectiveBatch,
            ["lr"] = options.AbsoluteLr,
            ["parameters"] = JsonNode.Parse(JsonSerializer.Serialize(ParameterCount.Of(config), MaeConfig.JsonOptions)),
        };
        AtomicFile.WriteAllText(run.ConfigJson, doc.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>
    /// Reads the model, training options and data source back from a run's config.json (written by
    /// <see cref="WriteConfig"/>); a missing or malformed part is named with the file.
    /// </summary>
    public static SavedRunConfig ReadConfig(string configJson)
    {
        JsonNode? doc;
        try
        {
            doc = JsonNode.Parse(File.ReadAllText(configJson));
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{configJson}: not valid JSON ({e.Message})", e);
        }
        T Part<T>(string key) where T : class
        {
            var node = doc?[key] ?? throw new InvalidDataException($"{configJson}: has no '{key}'");
            try
            {
                return node.Deserialize<T>(MaeConfig.JsonOptions) ?? throw new InvalidDataException($"{configJson}: '{key}' is null");
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"{configJson}: '{key}' is not valid ({e.Message})", e);
            }
        }
        var model = MaeConfig.FromJson(doc?["model"]?.ToJsonString() ?? throw new InvalidDataException($"{configJson}: has no 'model'"),
            configJson + " (model)");
        var training = Part<PretrainOptions>("training");
        var source = doc?["data_source"] is null ? null : Part<RunDataSource>("data_source");
        return new SavedRunConfig(configJson, model, training, source);
    }

    /// <summary>
    /// Rows of fixed test images: original | masked input | reconstruction | reconstruction with visible patches pasted
    /// back (spec §2.10; de-normalised per patch when norm-pix loss is on).
    /// </summary>
    public void WriteReconstructions(string path, MaskedAutoencoder model, IBatchSource test, PretrainOptions options)
    {
        using var scope = NewDisposeScope();
        _fixedImages ??= FirstImages(test, options.ReconstructionImages);
        var device = model.parameters().First().device;
        var images = _fixedImages.to(device);
        using var _ = no_grad();
        model.eval();
        using var gen = new Generator(2024);
        var noise = rand(images.shape[0], model.Config.NumPatches, generator: gen).to(device);
        using var output = model.Forward(images, options.MaskRatio, noise);
        var grids = ReconstructionPanels(model, images, output);
        model.train();
        ImageGrid.FromBatches(grids.Select(ToDisplay).ToList(),
            ["original", $"masked {options.MaskRatio:P0}", "reconstruction", "reconstruction + visible"],
            maxRows: (int)images.shape[0]).SavePng(path);
    }

    /// <summary>The four reconstruction columns in normalised space: original, masked, prediction, pasted.</summary>
    public static Tensor[] ReconstructionPanels(MaskedAutoencoder model, Tensor images, MaeOutput output)
    {
        var c = model.Config;
        var recon = model.Reconstruct(images, output.Pred);                                     // [B, C, S, S]
        var pixelMask = Patches.Unpatchify(output.Mask.unsqueeze(-1).expand(-1, -1, c.PatchPixels), c.PatchSize, c.InChans);
        var masked = images * (1 - pixelMask);
        var pasted = images * (1 - pixelMask) + recon * pixelMask;
        return [images, masked.masked_fill(pixelMask.to(ScalarType.Bool), float.NaN), recon, pasted];
    }

    /// <summary>Normalised images → [0, 1] pixels; NaN (removed patches) shown mid-grey.</summary>
    public Tensor ToDisplay(Tensor normalised)
    {
        var stats = Normalization.ForChannels((int)normalised.shape[1]);
        var mean = tensor(stats.Mean.ToArray()).view(1, -1, 1, 1).to(normalised.device);
        var std = tensor(stats.Std.ToArray()).view(1, -1, 1, 1).to(normalised.device);
        var pixels = (normalised * std + mean).clamp(0, 1);
        return pixels.nan_to_num(0.5).cpu();
    }

    private static Tensor FirstImages(IBatchSource data, int count)
    {
        var taken = new List<Tensor>();
        long have = 0;
        foreach (var (images, labels) in data.Epoch(0, 0, CancellationToken.None))
        {
            labels.Dispose();
            taken.Add(images);
            have += images.shape[0];
            if (have >= count) break;
        }
        if (taken.Count == 0) throw new InvalidOperationException("the test split has no images for reconstructions");
        var all = cat(taken, 0)[..(int)Math.Min(count, have)].clone();
        foreach (var t in taken) t.Dispose();
        return all.DetachFromDisposeScope();
    }

    /// <summary>loss.png: training loss per logged step and test loss per epoch, over global steps.</summary>
    public void WriteLossPlot(RunFolder run)
    {
        if (!File.Exists(run.Metrics)) return;
        var records = MetricsLog.Read(run.Metrics);
        List<(double Step, double Value)> Points(string type, string key) => records
            .Where(r => (string?)r["type"] == type && MetricsLog.Integer(r, "step") is not null && MetricsLog.Number(r, key) is not null)
            .Select(r => ((double)MetricsLog.Integer(r, "step")!.Value, MetricsLog.Number(r, key)!.Value)).ToList();
        var steps = Points("step", "loss");
        var epochs = Points("epoch", "test_loss");
        var series = new List<LineSeries>
        {
            new("train loss (masked patches)", steps.Select(p => p.Step).ToList(), steps.Select(p => p.Value).ToList()),
            new("test loss (masked patches)", epochs.Select(p => p.Step).ToList(), epochs.Select(p => p.Value).ToList()) { ShowMarkers = true },
        };
        Plots.SaveLinePlot(run.LossPlot, series, "Masked-patch reconstruction loss", "step", "MSE (normalised pixels)");
    }

    public void WriteSummary(RunFolder run, PretrainSummary summary) =>
        AtomicFile.WriteAllText(run.Summary, JsonSerializer.Serialize(summary, new JsonSerializerOptions
        {
            WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        }));
}

/// <summary>
/// Where a pre-training run's images come from: the dataset spec, its folder, how many images of each split the run uses
/// (null = all), whether undecodable files are skipped, and the smallest random-resized-crop area.
/// </summary>
public sealed record RunDataSource(string Spec, string? DataDir, int? Limit, bool SkipBadImages, double MinCropScale);

/// <summary>What a run's config.json says: the model, the training options and (for runs that record it) the data source.</summary>
public sealed record SavedRunConfig(string Path, MaeConfig Model, PretrainOptions Training, RunDataSource? DataSource);
