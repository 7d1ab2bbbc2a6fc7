using CrateMae.Data;
using CrateMae.Models;
using CrateMae.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace CrateMae.Evaluation;

/// <summary>
/// Encoder embeddings for .NET callers: the features <c>crate-mae embed</c> writes, from a checkpoint (or a model in
/// memory) and a dataset, as tensors or as NumPy <c>.npy</c> files.
/// </summary>
/// <example>
/// <code>
/// var (features, labels) = Embeddings.Extract("runs/crate-fmnist", data: "fashion-mnist:test", pooling: Pooling.Mean);
/// Embeddings.WriteNpy("test.npy", features, labels);   // test.npy + test.labels.npy
/// </code>
/// </example>
public static class Embeddings
{
    /// <summary>
    /// Features of one split of <paramref name="data"/> (a dataset spec, see <see cref="DatasetFactory.AcceptedForms"/>)
    /// from the frozen encoder of <paramref name="checkpoint"/> (a <c>.ckpt</c>, run folder, <c>.pth</c> or
    /// <c>.safetensors</c>; foreign weights need <paramref name="model"/>). Images are normalised as in pre-training when
    /// the checkpoint records it, else with the dataset's default statistics.
    /// </summary>
    /// <returns>Features [n, D] float32 and labels [n] int64 (−1 for unlabeled images), on the CPU, owned by the caller's scope.</returns>
    public static (Tensor Features, Tensor Labels) Extract(string checkpoint, string data = "fashion-mnist", Pooling pooling = Pooling.Mean,
        DataSplit split = DataSplit.Train, string? model = null, int? limit = null, int batchSize = 256, string device = "cpu")
    {
        using var loaded = ModelSource.Load(checkpoint, model, device);
        var request = new DataRequest { Spec = data, Limit = limit, BatchSize = batchSize, Normalization = loaded.Normalization };
        var dataset = DataSetup.Open(request, split);
        using var features = Extract(loaded.Model, dataset, loaded.Normalization, batchSize, limit);
        var chosen = features.Get(pooling).clone();
        var labels = features.Labels.clone();
        return (chosen, labels);
    }

    /// <summary>
    /// Every pooling for every image of <paramref name="dataset"/> (file order; resize + centre crop to the model's image
    /// size, the model's channel count, normalised with <paramref name="normalization"/> or the dataset's default).
    /// The model must be on <paramref name="device"/> (default CPU).
    /// </summary>
    public static PooledFeatures Extract(MaskedAutoencoder model, IImageDataset dataset, NormalizationStats? normalization = null,
        int batchSize = 256, int? limit = null, Action<long>? progress = null, Device? device = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(dataset);
        var c = model.Config;
        var stats = (normalization ?? dataset.DefaultNormalization).ForChannels(c.InChans);
        using var loader = new DataLoader(dataset, TransformPipeline.Eval(c.ImgSize, c.InChans, stats),
            new DataLoaderOptions { BatchSize = batchSize, Shuffle = false, Limit = limit });
        return ExtractBoth(model, Batches(loader, cancellationToken), device, progress);
    }

    /// <summary>
    /// Every pooling (cls token, patch-token mean, quadrant means) from one unmasked forward pass per batch, under no_grad with the
    /// model in eval mode (its training flag is restored). Batches follow <see cref="FeatureExtractor"/>'s ownership rules.
    /// </summary>
    /// <param name="progress">Called after each batch with the number of images done so far.</param>
    /// <param name="blockNumber">Encoder block whose output is pooled (1 … depth); null = the last, after the final norm.</param>
    public static PooledFeatures ExtractBoth(MaskedAutoencoder model, IEnumerable<(Tensor Images, Tensor Labels)> batches,
        Device? device = null, Action<long>? progress = null, int? blockNumber = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(batches);
        device ??= CPU;
        var modelDevice = model.parameters().First().device;
        if (modelDevice.type != device.type || (device.type != DeviceType.CPU && modelDevice.index != device.index))
            throw new ArgumentException($"device: the model's parameters are on {modelDevice} but features were requested on {device}", nameof(device));
        long d = model.Config.EmbedDim, done = 0;
        bool wasTraining = model.training;
        model.eval();
        try
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            var (both, labels) = FeatureExtractor.Collect(batches, (images, _) =>
            {
                var tokens = model.ForwardFeatures(images.to(device), applyNorm: true, blockNumber: blockNumber);   // [B, N, D]
                var f = cat([FeatureExtractor.Pool(tokens, Pooling.Cls), FeatureExtractor.Pool(tokens, Pooling.Mean),
                             FeatureExtractor.Pool(tokens, Pooling.Grid)], 1);                                         // [B, 6D]
                done += images.shape[0];
                progress?.Invoke(done);
                return f;
            });
            var cls = both[.., ..(int)d].contiguous();
            var mean = both[.., (int)d..(int)(2 * d)].contiguous();
            var grid = both[.., (int)(2 * d)..].contiguous();
            return new PooledFeatures(cls, mean, grid, labels);
        }
        finally
        {
            model.train(wasTraining);
        }
    }

    /// <summary>
    /// The batches of one pass over <paramref name="loader"/> (epoch 0) as (images, labels) pairs; each batch is disposed
    /// when the enumeration moves past it, so a consumer must copy what it keeps (as <see cref="FeatureExtractor"/> does).
    /// </summary>
    public static IEnumerable<(Tensor Images, Tensor Labels)> Batches(DataLoader loader, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(loader);
        foreach (var batch in loader.Epoch(0, 0, cancellationToken))
        {
            using (batch)
                yield return (batch.Images, batch.Labels);
        }
    }

    /// <summary><c>FILE.npy</c> → <c>FILE.labels.npy</c> (the labels file written next to a features file).</summary>
    public static string LabelsPath(string featuresPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(featuresPath);
        var stem = featuresPath.EndsWith(".npy", StringComparison.OrdinalIgnoreCase) ? featuresPath[..^4] : featuresPath;
        return stem + ".labels.npy";
    }

    /// <summary>
    /// Writes features [n, D] as float32 <paramref name="path"/> and, when any label is ≥ 0, labels [n] as int64
    /// <see cref="LabelsPath"/>; both atomically, readable with <c>numpy.load</c>.
    /// </summary>
    /// <returns>The labels path, or null when the dataset had no labels (no file written).</returns>
    public static string? WriteNpy(string path, Tensor features, Tensor labels)
    {
        ArgumentNullException.ThrowIfNull(features);
        ArgumentNullException.ThrowIfNull(labels);
        if (!path.EndsWith(".npy", StringComparison.OrdinalIgnoreCase))
            throw new ArgumentException($"--output {path}: the features file must end in .npy");
        if (features.dim() != 2 || labels.dim() != 1 || labels.shape[0] != features.shape[0])
            throw new ArgumentException($"features must be [n, D] with labels [n], got [{string.Join(", ", features.shape)}] and [{string.Join(", ", labels.shape)}]");
        using var scope = NewDisposeScope();
        NpyWriter.Write(path, features.to(float32));
        if (labels.numel() == 0 || labels.max().item<long>() < 0) return null;
        var labelsPath = LabelsPath(path);
        NpyWriter.Write(labelsPath, labels.to(int64));
        return labelsPath;
    }
}
