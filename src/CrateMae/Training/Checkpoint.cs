using System.Text.Json;
using CrateMae.Interop;
using CrateMae.Models;
using static TorchSharp.torch;

namespace CrateMae.Training;

/// <summary>
/// The project's own checkpoint (<c>.ckpt</c>): a safetensors container holding the model (<c>model.KEY</c>), the
/// AdamW moments (<c>optim.exp_avg.KEY</c>, <c>optim.exp_avg_sq.KEY</c>) and, as metadata, the model config, the
/// training options and the <see cref="TrainingState"/>. Written atomically (temp file + rename).
/// </summary>
public static class Checkpoint
{
    public const string Format = "crate-mae-checkpoint/1";
    public const string Extension = ".ckpt";
    private static readonly JsonSerializerOptions Json = MaeConfig.JsonOptions;

    /// <summary>Writes model, optional optimizer and state to <paramref name="path"/> atomically.</summary>
    public static void Save(string path, MaskedAutoencoder model, AdamW? optimizer, TrainingState? state,
        PretrainOptions? options = null, IReadOnlyDictionary<string, string>? extra = null)
    {
        using var scope = NewDisposeScope();
        var tensors = new List<(string, Tensor)>();
        foreach (var (k, v) in model.OrderedStateDict()) tensors.Add(("model." + k, v.detach().cpu()));
        var meta = new Dictionary<string, string>
        {
            ["format"] = Format,
            ["config"] = model.Config.ToJson(),
        };
        if (optimizer is not null)
        {
            var (moments, steps) = optimizer.State();
            foreach (var (k, v) in moments) tensors.Add(("optim." + k, v.cpu()));
            state = (state ?? new TrainingState()) with { OptimizerSteps = new Dictionary<string, long>(steps) };
        }
        if (state is not null) meta["state"] = JsonSerializer.Serialize(state, Json);
        if (options is not null) meta["options"] = JsonSerializer.Serialize(options, Json);
        if (extra is not null) foreach (var (k, v) in extra) meta[k] = v;
        Safetensors.Save(path, tensors, meta);    // atomic; a failure names the file and says the previous version is unchanged
    }

    /// <summary>A loaded checkpoint: the config, model weights, optimizer tensors and metadata.</summary>
    public sealed class Contents : IDisposable
    {
        internal Contents(string path, MaeConfig config, IReadOnlyList<(string, Tensor)> model,
            IReadOnlyDictionary<string, Tensor> optimizer, TrainingState? state, PretrainOptions? options,
            IReadOnlyDictionary<string, string> metadata, IDisposable owner)
        {
            Path = path; Config = config; ModelTensors = model; OptimizerTensors = optimizer; State = state;
            Options = options; Metadata = metadata; _owner = owner;
        }

        private readonly IDisposable _owner;
        public string Path { get; }
        public MaeConfig Config { get; }
        public IReadOnlyList<(string Key, Tensor Value)> ModelTensors { get; }
        public IReadOnlyDictionary<string, Tensor> OptimizerTensors { get; }
        public TrainingState? State { get; }
        public PretrainOptions? Options { get; }
        public IReadOnlyDictionary<string, string> Metadata { get; }

        /// <summary>Builds the model from the stored config and loads the weights (strict).</summary>
        public MaskedAutoencoder CreateModel()
        {
            CheckWeightsFit(Config, ModelTensors, Path);
            var model = new MaskedAutoencoder(Config);
            StateDictLoader.LoadInto(model, ModelTensors, Path);
            return model;
        }

        public void Dispose() => _owner.Dispose();
    }

    /// <summary>
    /// Refuses weights whose element count differs from what <paramref name="config"/> needs, before a model of that size is
    /// allocated: a corrupt or foreign config (say embed_dim 3200000) must not build a huge model just to fail the strict load.
    /// </summary>
    public static void CheckWeightsFit(MaeConfig config, IEnumerable<(string Key, Tensor Value)> tensors, string source)
    {
        long stored = tensors.Sum(t => t.Value.numel());
        long expected;
        try
        {
            expected = checked(ParameterCount.Of(config).Total);
        }
        catch (OverflowException)
        {
            expected = long.MaxValue;
        }
        if (stored != expected)
            throw new InvalidDataException(
                $"{source}: the stored model config ('{config.Name}', {config.Kind}, embed_dim {config.EmbedDim}, depth {config.Depth}) needs " +
                $"{expected:N0} weights but the file holds {stored:N0}; the config or the weights are corrupt or do not belong together");
    }

    private static T Parse<T>(string json, string path, string key) where T : class
    {
        try
        {
            return JsonSerializer.Deserialize<T>(json, Json) ?? throw new InvalidDataException($"{path}: checkpoint metadata '{key}' is null");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: checkpoint metadata '{key}' is not valid ({e.Message})", e);
        }
    }

    public static Contents Load(string path)
    {
        var content = Safetensors.Load(path);
        try
        {
            var meta = content.Metadata;
            if (!meta.TryGetValue("format", out var fmt) || fmt != Format)
                throw new InvalidDataException($"{path}: not a CrateMae checkpoint (metadata 'format' is '{fmt ?? "missing"}', expected '{Format}')");
            if (!meta.TryGetValue("config", out var cfgJson))
                throw new InvalidDataException($"{path}: checkpoint has no model config");
            var config = MaeConfig.FromJson(cfgJson, path + " (config)");
            var state = meta.TryGetValue("state", out var s) ? Parse<TrainingState>(s, path, "state") : null;
            var options = meta.TryGetValue("options", out var o) ? Parse<PretrainOptions>(o, path, "options") : null;
            if (state is not null && (state.Epoch < 0 || state.StepInEpoch < 0 || state.GlobalStep < 0 || state.OptimizerSteps is null))
                throw new InvalidDataException($"{path}: checkpoint metadata 'state' has a negative position or no optimizer steps");
            var model = content.Tensors.Where(t => t.Key.StartsWith("model.", StringComparison.Ordinal))
                .Select(t => (t.Key["model.".Length..], t.Value)).ToList();
            var optim = content.Tensors.Where(t => t.Key.StartsWith("optim.", StringComparison.Ordinal))
                .ToDictionary(t => t.Key["optim.".Length..], t => t.Value);
            return new Contents(path, config, model, optim, state, options, meta, content);
        }
        catch
        {
            content.Dispose();
            throw;
        }
    }
}
