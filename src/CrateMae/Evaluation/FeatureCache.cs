using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using CrateMae.Interop;
using CrateMae.IO;

namespace CrateMae.Evaluation;

/// <summary>
/// What a cached feature extraction depends on. Two keys with the same <see cref="Id"/> describe the same features;
/// <see cref="Group"/> identifies "the same source on the same data" so that entries made stale by a changed checkpoint
/// are removed when the new ones are stored.
/// </summary>
public sealed record FeatureCacheKey
{
    /// <summary>Where the encoder came from, e.g. <c>checkpoint:/abs/run/final.ckpt</c> or <c>random-init:seed=0</c>.</summary>
    public required string Source { get; init; }

    /// <summary>Content fingerprint of the weights: SHA-256 of the checkpoint file (or of the config for a random init).</summary>
    public required string Fingerprint { get; init; }

    /// <summary>The model config JSON (architecture and semantics).</summary>
    public required string Config { get; init; }

    /// <summary>The dataset spec with folder and split resolved, e.g. <c>fashion-mnist:train</c>.</summary>
    public required string Data { get; init; }

    /// <summary>Images used (the <c>--limit</c>), null for all.</summary>
    public int? Limit { get; init; }

    /// <summary>Preprocessing: image size, channels, normalisation (anything that changes the pixels the encoder sees).</summary>
    public required string Preprocessing { get; init; }

    /// <summary>Encoder block whose output was pooled (1-based); null = the last block after the final norm.</summary>
    /// <remarks>Not written when null, so the keys (and cached files) of final-layer features stay what they were.</remarks>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? Layer { get; init; }

    /// <summary><c>"bf16"</c> for features extracted with bf16 matrix products; null (not written) for float32.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Precision { get; init; }

    /// <summary>Cache format; bumping it invalidates every old entry.</summary>
    public int Version { get; init; } = FeatureCache.FormatVersion;

    /// <summary>SHA-256 (hex) of the whole key.</summary>
    [JsonIgnore]
    public string Id => FeatureCache.Sha256Hex(ToJson());

    /// <summary>SHA-256 (hex) of source, data and limit only.</summary>
    [JsonIgnore]
    public string Group => FeatureCache.Sha256Hex($"{Source}\n{Data}\n{Limit}" + (Layer is { } l ? $"\nlayer {l}" : "")
                                                  + (Precision is { } p ? $"\nprecision {p}" : ""));

    public string ToJson() => JsonSerializer.Serialize(this, FeatureCache.JsonOptions);
}

/// <summary>
/// An on-disk cache of <see cref="PooledFeatures"/>, one safetensors file per <see cref="FeatureCacheKey"/>
/// (<c>GROUP12-ID16.safetensors</c> holding <c>cls</c>, <c>mean</c>, <c>grid</c>, <c>labels</c> and the key as metadata), written
/// atomically. A file whose stored key differs from the requested one, or that cannot be read, counts as a miss and is
/// replaced. Storing an entry deletes the other entries of its group (the same source and data with older weights).
/// </summary>
public sealed class FeatureCache
{
    public const int FormatVersion = 2;
    private const string FormatName = "crate-mae-features/2";

    internal static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    public FeatureCache(string directory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        Directory = Path.GetFullPath(directory);
    }

    public string Directory { get; }

    /// <summary>The file an entry is stored in.</summary>
    public string PathOf(FeatureCacheKey key) => Path.Combine(Directory, $"{key.Group[..12]}-{key.Id[..16]}.safetensors");

    /// <summary>The cached features of <paramref name="key"/>, or null when absent, stale or unreadable.</summary>
    public PooledFeatures? TryLoad(FeatureCacheKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var path = PathOf(key);
        if (!File.Exists(path)) return null;
        try
        {
            using var content = Safetensors.Load(path);
            if (!content.Metadata.TryGetValue("format", out var format) || format != FormatName
                || !content.Metadata.TryGetValue("key", out var stored) || stored != key.ToJson())
                return null;
            var byName = content.Tensors.ToDictionary(t => t.Key, t => t.Value);
            if (!byName.TryGetValue("cls", out var cls) || !byName.TryGetValue("mean", out var mean) || !byName.TryGetValue("grid", out var grid)
                || !byName.TryGetValue("labels", out var labels))
                return null;
            return new PooledFeatures(cls.clone(), mean.clone(), grid.clone(), labels.clone());
        }
        catch (Exception e) when (e is InvalidDataException or IOException or ArgumentException or UnauthorizedAccessException)
        {
            return null;   // truncated or foreign file: extract again and overwrite it
        }
    }

    /// <summary>Stores <paramref name="features"/> under <paramref name="key"/> (atomically) and removes stale entries of its group.</summary>
    /// <returns>The file written.</returns>
    public string Store(FeatureCacheKey key, PooledFeatures features)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(features);
        var path = PathOf(key);
        Safetensors.Save(path, [("cls", features.Cls), ("mean", features.Mean), ("grid", features.Grid), ("labels", features.Labels)],
            new Dictionary<string, string> { ["format"] = FormatName, ["key"] = key.ToJson() });
        foreach (var stale in System.IO.Directory.EnumerateFiles(Directory, $"{key.Group[..12]}-*.safetensors"))
        {
            if (Path.GetFullPath(stale) == path) continue;
            try { File.Delete(stale); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
        return path;
    }

    /// <summary>The cached features of <paramref name="key"/>, or the result of <paramref name="extract"/> (then stored).</summary>
    /// <param name="hit">Whether the features came from the cache.</param>
    public PooledFeatures GetOrExtract(FeatureCacheKey key, Func<PooledFeatures> extract, out bool hit)
    {
        ArgumentNullException.ThrowIfNull(extract);
        var cached = TryLoad(key);
        if (cached is not null)
        {
            hit = true;
            return cached;
        }
        hit = false;
        var features = extract();
        try
        {
            Store(key, features);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A read-only or full disk only costs the next run a re-extraction; the features are still good.
            CacheWriteFailed?.Invoke($"could not write the feature cache {PathOf(key)}: {e.Message}");
        }
        return features;
    }

    /// <summary>Raised (with a message) when storing an entry failed; the extraction result is still returned.</summary>
    public event Action<string>? CacheWriteFailed;

    /// <summary>SHA-256 of a file's content, hex.</summary>
    public static string FileFingerprint(string path)
    {
        using var fs = InputFile.OpenRead(path, "input file", 1 << 20);
        return Convert.ToHexStringLower(SHA256.HashData(fs));
    }

    internal static string Sha256Hex(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
}
