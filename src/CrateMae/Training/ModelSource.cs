using CrateMae.Data;
using CrateMae.Interop;
using TorchSharp;
using CrateMae.Models;
using static TorchSharp.torch;

namespace CrateMae.Training;

/// <summary>A model loaded for evaluation or analysis, with the image normalisation it was trained with (if known).</summary>
public sealed record LoadedModel(MaskedAutoencoder Model, string Source, NormalizationStats? Normalization, string? DataDescription) : IDisposable
{
    public void Dispose() => Model.Dispose();
}

/// <summary>
/// Resolves <c>--checkpoint</c>: a CrateMae <c>.ckpt</c> (config inside), a run folder (its final model), or a PyTorch
/// <c>.pth</c> / <c>.safetensors</c> state dict (plain or MAE-style checkpoint). Foreign weights need a config from the
/// user (<c>--model</c>: preset or JSON), because heads, λ and norm-pix are not in the weights (spec §11); an MAE
/// checkpoint whose <c>args.model</c> names an official factory is accepted as a hint.
/// </summary>
public static class ModelSource
{
    private static readonly Dictionary<string, string> OfficialFactories = new()
    {
        ["mae_crate_tiny"] = "crate-tiny", ["mae_crate_small"] = "crate-small", ["mae_crate_base"] = "crate-base",
        ["mae_crate_large"] = "crate-large", ["mae_vit_base_patch16"] = "mae-vit-base", ["mae_vit_base"] = "mae-vit-base",
        ["mae_vit_large_patch16"] = "mae-vit-large", ["mae_vit_large"] = "mae-vit-large",
        ["mae_vit_huge_patch14"] = "mae-vit-huge", ["mae_vit_huge"] = "mae-vit-huge",
    };

    public static LoadedModel Load(string checkpointOrRun, string? modelConfig = null, string device = "cpu")
    {
        var dev = DeviceChoice.Parse(device);
        var path = RunFolder.ResolveCheckpoint(checkpointOrRun);
        if (path.EndsWith(Checkpoint.Extension, StringComparison.OrdinalIgnoreCase))
        {
            using var ckpt = Checkpoint.Load(path);
            if (modelConfig is not null && Presets.Resolve(modelConfig) with { Name = "" } != ckpt.Config with { Name = "" })
                throw new ArgumentException($"--model {modelConfig} differs from the config stored in {path}; leave --model out for CrateMae checkpoints");
            var model = ckpt.CreateModel();
            model.to(dev);
            return new LoadedModel(model, path, RunArtifacts.NormalizationFrom(ckpt.Metadata, path),
                ckpt.Metadata.TryGetValue("data", out var d) ? d : null);
        }

        if (path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase))
        {
            using var st = Safetensors.Load(path);
            if (modelConfig is null && st.Metadata.TryGetValue("crate_mae_config", out var json))
            {
                var ownConfig = MaeConfig.FromJson(json, path + " (crate_mae_config)");
                Checkpoint.CheckWeightsFit(ownConfig, st.Tensors, path);
                var own = new MaskedAutoencoder(ownConfig);
                StateDictLoader.LoadInto(own, st.Tensors, path);
                own.to(dev);
                return new LoadedModel(own, path, RunArtifacts.NormalizationFrom(st.Metadata, path),
                    st.Metadata.TryGetValue("data", out var d) ? d : null);
            }
        }

        using var weights = StateDictFile.Load(path);
        MaeConfig config;
        if (modelConfig is not null) config = Presets.Resolve(modelConfig);
        else if (weights.Args is { } args && args.TryGetValue("model", out var factory) && OfficialFactories.TryGetValue(factory, out var preset))
            config = Presets.Get(preset);
        else
            throw new ArgumentException(
                $"{path} holds only weights: give the architecture with --model (a preset such as crate-base, or a JSON config); " +
                "heads, λ and norm-pix loss cannot be read from a state dict" +
                (weights.Args?.TryGetValue("model", out var name) == true ? $" (its args.model '{name}' is not an official factory)" : ""));
        var m = new MaskedAutoencoder(config);
        StateDictLoader.LoadInto(m, weights.Tensors, path);
        m.to(dev);
        return new LoadedModel(m, path, null, null);
    }

    /// <summary>Writes a model's weights by extension: <c>.pth</c> (PyTorch), <c>.safetensors</c> (with the config as metadata) or <c>.ckpt</c>.</summary>
    public static void Save(MaskedAutoencoder model, string path, IReadOnlyDictionary<string, string>? metadata = null)
    {
        using var scope = NewDisposeScope();
        var tensors = model.OrderedStateDict().Select(kv => (kv.Key, kv.Value.detach().cpu())).ToList();
        switch (Path.GetExtension(path).ToLowerInvariant())
        {
            case ".pth" or ".pt":
                PyTorchFile.SaveStateDict(path, tensors);
                break;
            case ".safetensors":
                var meta = new Dictionary<string, string> { ["format"] = "pt", ["crate_mae_config"] = model.Config.ToJson() };
                if (metadata is not null) foreach (var (k, v) in metadata) meta[k] = v;
                Safetensors.Save(path, tensors, meta);
                break;
            case Checkpoint.Extension:
                Checkpoint.Save(path, model, null, null, null, metadata);
                break;
            default:
                throw new ArgumentException($"{path}: unknown output format; use .pth, .safetensors or {Checkpoint.Extension}");
        }
    }
}
