using System.Diagnostics;
using System.Text.Json;
using CrateMae.Data;
using CrateMae.Evaluation;
using CrateMae.Models;
using CrateMae.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace CrateMae.Cli.Commands;

/// <summary>Training and test features of one source (encoder, random-init encoder or raw pixels), owned by this record.</summary>
/// <param name="Layer">Encoder block pooled (1-based); null for the last block, for raw pixels and for several blocks.</param>
/// <param name="Precision"><c>"bf16"</c> for features extracted with bf16 products; null for float32 and raw pixels.</param>
/// <param name="Layers">The blocks whose pooled features are concatenated, in order, when there are several; else null.</param>
public sealed record FeatureSplits(Tensor TrainX, Tensor TrainY, Tensor TestX, Tensor TestY, string Model, Pooling? Pooling,
    string? Source, string Data, string Origin, int? Layer = null, string? Precision = null, IReadOnlyList<int>? Layers = null) : IDisposable
{
    public void Dispose()
    {
        TrainX.Dispose();
        TrainY.Dispose();
        TestX.Dispose();
        TestY.Dispose();
    }
}

/// <summary>
/// Resolves <c>--checkpoint</c> / <c>--model</c> / <c>--data</c> into features: the frozen encoder's (unmasked path,
/// both poolings from one pass, cached in <see cref="FeatureCache"/>), a randomly initialised encoder of the same config
/// (cached too), or the raw normalised pixels (cheap, not cached).
/// </summary>
public sealed class FeatureProvider : IDisposable
{
    private readonly EvalSettings _s;
    private readonly Reporter _ui;
    private readonly CancellationToken _token;
    private LoadedModel? _loaded;
    private MaeConfig? _config;
    private MaskedAutoencoder? _random;
    private string? _fingerprint;

    public FeatureProvider(EvalSettings settings, Reporter ui, CancellationToken cancellationToken = default)
    {
        _s = settings;
        _ui = ui;
        _token = cancellationToken;
        if (settings.Checkpoint is not null)
        {
            CheckpointPath = Path.GetFullPath(RunFolder.ResolveCheckpoint(settings.Checkpoint));
        }
        EvalDir = settings.EvalDir is { } d ? Path.GetFullPath(d) : CheckpointPath is null ? null : EvalFiles.EvalDirFor(CheckpointPath);
        var cacheDir = settings.CacheDir ?? (EvalDir is null ? null : EvalFiles.CacheDir(EvalDir));
        if (!settings.NoCache && cacheDir is not null)
        {
            Cache = new FeatureCache(cacheDir);
            Cache.CacheWriteFailed += m => _ui.Info("warning: " + m);
        }
    }

    /// <summary>The resolved checkpoint file, or null without --checkpoint.</summary>
    public string? CheckpointPath { get; }

    /// <summary>Where results are written by default (null when neither --checkpoint nor --eval-dir is given).</summary>
    public string? EvalDir { get; }

    public FeatureCache? Cache { get; }

    /// <summary>Features extracted by an encoder pass during this run (0 when everything came from the cache).</summary>
    public int Extractions { get; private set; }

    /// <summary>The checkpoint's model (loaded on first use).</summary>
    public LoadedModel Loaded => _loaded ??= LoadCheckpoint();

    /// <summary>The architecture: the checkpoint's, else --model.</summary>
    public MaeConfig Config => _config ??= CheckpointPath is not null ? Loaded.Model.Config
        : _s.Model is { } m ? Presets.Resolve(m)
        : throw new ArgumentException("--checkpoint: required (or --model for a random-init floor, or --floor pixels alone)");

    /// <summary>The random-init floor: the config initialised from <c>--seed</c> (deterministic: the global RNG is seeded).</summary>
    private MaskedAutoencoder RandomModel => _random ??= CreateRandom(Config, _s.Seed, _s.Device);

    /// <summary>
    /// A randomly initialised autoencoder that is the same for the same seed in every process. TorchSharp 0.107's
    /// <c>nn.init.*</c> ignore the generator argument, so the global RNG is seeded as well.
    /// </summary>
    public static MaskedAutoencoder CreateRandom(MaeConfig config, int seed, string device)
    {
        torch.random.manual_seed(seed);
        var model = new MaskedAutoencoder(config, new Generator((ulong)seed));
        model.to(DeviceChoice.Parse(device));
        return model;
    }

    private NormalizationStats? Normalization => CheckpointPath is null ? null : Loaded.Normalization;

    private LoadedModel LoadCheckpoint()
    {
        if (CheckpointPath is null) throw new ArgumentException("--checkpoint: required to evaluate a pretrained encoder");
        var loaded = ModelSource.Load(CheckpointPath, _s.Model, _s.Device);
        _ui.Info($"loaded {loaded.Model.Config.Name} ({loaded.Model.Config.Kind}) from {CheckpointPath}");
        return loaded;
    }

    private DataRequest Request() => _s.Request((ulong)_s.Seed) with { Normalization = Normalization };

    /// <summary>Images of <paramref name="split"/> the evaluation uses (after <c>--limit</c>).</summary>
    public long ImageCount(DataSplit split) => Math.Min(DataSetup.Open(Request(), split).Count, _s.Limit ?? int.MaxValue);

    /// <summary>The data description recorded in results, e.g. <c>fashion-mnist:train → fashion-mnist:test</c>.</summary>
    public string DataDescription(params DataSplit[] splits)
    {
        var request = Request();
        var text = string.Join(" → ", splits.Select(request.EffectiveSpec));
        return _s.Limit is { } n ? $"{text} (first {n:N0} images of each)" : text;
    }

    /// <summary>Training and test features for <paramref name="floor"/> (null = the checkpoint's encoder).</summary>
    public FeatureSplits TrainTest(string? floor, Pooling pooling)
    {
        var request = Request();
        if (request.EffectiveSpec(DataSplit.Train) == request.EffectiveSpec(DataSplit.Test))
            throw new ArgumentException($"--data {_s.DataSpec}: names one split, but the probe fits on the train split and scores the test split; " +
                                        "leave the ':train' / ':test' suffix out");
        var data = DataDescription(DataSplit.Train, DataSplit.Test);
        if (floor == EvalFiles.PixelsFloor)
        {
            var (trainX, trainY) = Pixels(DataSplit.Train);
            var (testX, testY) = Pixels(DataSplit.Test);
            return new FeatureSplits(trainX, trainY, testX, testY, "pixels", null, null, data, "raw pixels");
        }
        var (encTrainX, encTrainY) = Pooled(floor, DataSplit.Train, pooling, out var trainOrigin);
        var (encTestX, encTestY) = Pooled(floor, DataSplit.Test, pooling, out var testOrigin);
        string name = floor == EvalFiles.RandomFloor ? $"{Config.Name} (random init, seed {_s.Seed})" : Config.Name;
        return new FeatureSplits(encTrainX, encTrainY, encTestX, encTestY, name, pooling, floor is null ? CheckpointPath : null, data,
            trainOrigin == testOrigin ? trainOrigin : $"train {trainOrigin}, test {testOrigin}", Layer, ReducedPrecision, ConcatenatedLayers);
    }

    /// <summary>
    /// One split's features in <paramref name="pooling"/> from the encoder (null) or the random-init floor, [n, F], and the
    /// labels [n]: one block's pooled features, or with several <c>--layer</c> blocks theirs concatenated in the order
    /// given (each block cached on its own). The caller owns both tensors.
    /// </summary>
    public (Tensor Features, Tensor Labels) Pooled(string? floor, DataSplit split, Pooling pooling, out string origin)
    {
        var origins = new List<string>();
        var parts = new List<Tensor>();
        Tensor? labels = null;
        try
        {
            foreach (var block in Blocks)
            {
                using var features = Encoder(floor, split, block, out var o);
                origins.Add(o);
                parts.Add(features.Get(pooling).clone().DetachFromDisposeScope());
                labels ??= features.Labels.clone().DetachFromDisposeScope();
            }
            origin = origins.Distinct().Count() == 1 ? origins[0] : string.Join(" + ", origins);
            if (parts.Count == 1) return (parts[0], labels!);
            var all = cat(parts, 1).DetachFromDisposeScope();   // [n, Σ F_block]
            foreach (var p in parts) p.Dispose();
            return (all, labels!);
        }
        catch
        {
            foreach (var p in parts) p.Dispose();
            labels?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Every pooling of one split at the single <c>--layer</c> block from the encoder (null) or the random-init floor,
    /// via the cache.
    /// </summary>
    /// <exception cref="ArgumentException"><c>--layer</c> names several blocks (use <see cref="Pooled"/>).</exception>
    public PooledFeatures Encoder(string? floor, DataSplit split, out string origin) =>
        Blocks.Count == 1 ? Encoder(floor, split, Blocks[0], out origin)
            : throw new ArgumentException($"--layer {_s.Layer}: this needs one encoder block");

    /// <summary>Every pooling of one split at block <paramref name="layer"/> (null: the last, normed), via the cache.</summary>
    private PooledFeatures Encoder(string? floor, DataSplit split, int? layer, out string origin)
    {
        if (floor is not (null or EvalFiles.RandomFloor)) throw new ArgumentException($"--floor {floor}: not an encoder");
        var config = Config;
        var request = Request();
        var dataset = DataSetup.Open(request, split);
        var stats = DataSetup.NormalizationFor(request, dataset, config.InChans);
        var key = new FeatureCacheKey
        {
            Source = floor is null ? "checkpoint:" + CheckpointPath : $"random-init:manual_seed={_s.Seed}",
            Fingerprint = floor is null ? _fingerprint ??= FeatureCache.FileFingerprint(CheckpointPath!) : $"config-sha256:{Sha(config.ToJson())}",
            Config = config.ToJson(),
            Data = request.EffectiveSpec(split),
            Limit = _s.Limit,
            Layer = layer,
            Precision = ReducedPrecision,
            Preprocessing = $"eval resize+center-crop {config.ImgSize}px, {config.InChans} ch, normalize " +
                            JsonSerializer.Serialize(new { mean = stats.Mean, std = stats.Std }),
        };
        var what = (floor is null ? config.Name : $"random-init {config.Name}") + (layer is { } b ? $" block {b}" : "");
        long count = Math.Min(dataset.Count, _s.Limit ?? int.MaxValue);
        bool hit = false;
        PooledFeatures Extract()
        {
            var clock = Stopwatch.StartNew();
            _ui.Info($"extracting {what} features of {dataset.Name} ({count:N0} images)…");
            var model = floor is null ? Loaded.Model : RandomModel;
            using var loader = DataSetup.Loader(request, dataset, config, train: false);
            using var precision = MatmulPrecision.Use(MatmulPrecision.Parse(ReducedPrecision));
            var f = Embeddings.ExtractBoth(model, Embeddings.Batches(loader, _token), model.parameters().First().device,
                _ui.Throttled($"{what} features of {dataset.Name}", count), key.Layer);
            Extractions++;
            _ui.Info($"  {f.Count:N0} × {f.FeatureDim} in {clock.Elapsed.TotalSeconds:F1} s ({f.Count / Math.Max(1e-9, clock.Elapsed.TotalSeconds):F0} img/s)");
            return f;
        }
        var features = Cache is null ? Extract() : Cache.GetOrExtract(key, Extract, out hit);
        origin = hit ? "cached" : "extracted";
        if (hit) _ui.Info($"{what} features of {dataset.Name}: cached ({Cache!.PathOf(key)})");
        return features;
    }

    /// <summary>
    /// The encoder blocks whose outputs are pooled: <c>--layer</c> checked against the encoder depth, null for the last
    /// block after the final norm (also when <c>--layer</c> names it); one entry without <c>--layer</c>.
    /// </summary>
    public IReadOnlyList<int?> Blocks => _s.Layers is not { } layers ? [null] : layers.Select(l =>
        l > Config.Depth ? throw new ArgumentException($"--layer {_s.Layer}: {Config.Name} has {Config.Depth} encoder blocks; expected 1 … {Config.Depth}")
        : l == Config.Depth ? (int?)null : l).ToArray();

    /// <summary>The one encoder block pooled (null: the last block, or several blocks; see <see cref="ConcatenatedLayers"/>).</summary>
    public int? Layer => Blocks.Count == 1 ? Blocks[0] : null;

    /// <summary>The <c>--layer</c> blocks (1 … depth) when several are concatenated; null for one block.</summary>
    public IReadOnlyList<int>? ConcatenatedLayers => Blocks.Count > 1 ? _s.Layers : null;

    /// <summary><c>"bf16"</c> when <c>--precision</c> resolves to bf16 products on the device; null for float32.</summary>
    public string? ReducedPrecision => MatmulPrecision.Resolve(_s.Precision, _s.Device) == "bf16" ? "bf16" : null;

    private (Tensor Features, Tensor Labels) Pixels(DataSplit split)
    {
        var request = Request();
        var dataset = DataSetup.Open(request, split);
        // Same image size and channels as the encoder sees; without any model, the dataset's own.
        var config = CheckpointPath is not null || _s.Model is not null
            ? Config
            : new MaeConfig
            {
                Name = "pixels", ImgSize = dataset.NativeSize ?? throw new ArgumentException(
                    $"--floor pixels: {dataset.Name} has images of different sizes; give --checkpoint or --model to fix the size"),
                PatchSize = 1, InChans = dataset.Channels,
            };
        using var loader = DataSetup.Loader(request, dataset, config, train: false);
        var (x, y) = RawPixelFeatures.Extract(Embeddings.Batches(loader, _token));
        return (x.DetachFromDisposeScope(), y.DetachFromDisposeScope());
    }

    private static string Sha(string text) =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(text)));

    public void Dispose()
    {
        _loaded?.Dispose();
        _random?.Dispose();
    }
}
