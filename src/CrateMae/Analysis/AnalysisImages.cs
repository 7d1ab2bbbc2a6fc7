using CrateMae.Data;
using CrateMae.Models;
using static TorchSharp.torch;

namespace CrateMae.Analysis;

/// <summary>
/// Images prepared for a model, as the analysis commands take them: normalised [B, C, S, S] float32 on the CPU, a
/// name per image, and the normalisation used (to undo it for display).
/// </summary>
/// <param name="Images">[B, C, S, S], normalised.</param>
/// <param name="Names">One name per image (file name, or "split #index").</param>
/// <param name="Normalization">The statistics the images were normalised with (for C channels).</param>
public sealed record ImageBatch(Tensor Images, IReadOnlyList<string> Names, NormalizationStats Normalization) : IDisposable
{
    /// <summary>Number of images.</summary>
    public int Count => (int)Images.shape[0];

    /// <summary>Normalisation mean as doubles (for the figure helpers).</summary>
    public IReadOnlyList<double> Mean => Normalization.Mean.Select(v => (double)v).ToArray();

    /// <summary>Normalisation std as doubles (for the figure helpers).</summary>
    public IReadOnlyList<double> Std => Normalization.Std.Select(v => (double)v).ToArray();

    public void Dispose() => Images.Dispose();
}

/// <summary>
/// Loads the images the analysis commands look at: single files (decoded with SkiaSharp, converted to the model's
/// channels, shorter side resized to the model's size and center-cropped, normalised) or a range of dataset images
/// (the evaluation transform of <see cref="DataSetup.Loader"/>), and streams dataset batches for the statistics.
/// </summary>
public static class AnalysisImages
{
    /// <summary>Largest image file accepted (pixels), as for image folders.</summary>
    public const long MaxPixels = 100_000_000;

    /// <summary>
    /// The normalisation for the model: the checkpoint's when known, otherwise the dataset's default (ImageNet for
    /// image files), adapted to the model's channels.
    /// </summary>
    public static NormalizationStats NormalizationFor(MaeConfig config, NormalizationStats? fromCheckpoint, NormalizationStats fallback) =>
        (fromCheckpoint ?? fallback).ForChannels(config.InChans);

    /// <summary>Decodes, resizes/center-crops and normalises image files for <paramref name="config"/>.</summary>
    /// <exception cref="ArgumentException">No paths given.</exception>
    /// <exception cref="FileNotFoundException">A file does not exist (the message names it).</exception>
    /// <exception cref="InvalidDataException">A file is not a decodable image.</exception>
    public static ImageBatch FromFiles(IReadOnlyList<string> paths, MaeConfig config, NormalizationStats? normalization)
    {
        ArgumentNullException.ThrowIfNull(paths);
        ArgumentNullException.ThrowIfNull(config);
        if (paths.Count == 0) throw new ArgumentException("no image files given");
        foreach (var p in paths)
            if (!File.Exists(p))
                throw new FileNotFoundException($"--image {p}: no such file", p);
        DataSetup.CheckConvertible(config, config.ImgSize);
        var stats = NormalizationFor(config, normalization, NormalizationStats.ImageNet);
        var pipeline = TransformPipeline.Eval(config.ImgSize, config.InChans, stats);
        var images = paths.Select((p, i) =>
        {
            var decoded = SkiaDecoder.DecodeRgb(p, MaxPixels);
            try
            {
                return pipeline.Apply(decoded, 0, 0, i);
            }
            catch (InvalidDataException e)
            {
                throw new InvalidDataException($"Image file '{p}': {e.Message}", e);    // e.g. too elongated to resize
            }
        }).ToList();
        return new ImageBatch(Stack(images), paths.Select(Path.GetFileName).Select(n => n ?? "").ToArray(), stats);
    }

    /// <summary>
    /// Dataset images <paramref name="index"/> … <paramref name="index"/> + <paramref name="count"/> − 1 of
    /// <paramref name="split"/> (unless the spec names a split), with the evaluation transform.
    /// </summary>
    /// <param name="request">Dataset and normalisation.</param>
    /// <param name="config">The model the images are for.</param>
    /// <param name="index">First image.</param>
    /// <param name="count">Number of images.</param>
    /// <param name="split">Split, unless the spec names one.</param>
    /// <param name="clamp">Take fewer images when the dataset ends before index + count (for default counts).</param>
    /// <exception cref="ArgumentException">The range is empty or outside the dataset.</exception>
    public static ImageBatch FromDataset(DataRequest request, MaeConfig config, int index, int count, DataSplit split = DataSplit.Test, bool clamp = false)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(config);
        var dataset = DataSetup.Open(request, split);
        if (clamp && index >= 0 && index < dataset.Count) count = Math.Min(count, dataset.Count - index);
        if (count < 1) throw new ArgumentException($"--count must be at least 1, got {count}");
        if (index < 0 || (long)index + count > dataset.Count)
            throw new ArgumentException($"--index {index} --count {count} is outside {dataset.Name}, which has {dataset.Count} images (0 … {dataset.Count - 1})");
        using var loader = DataSetup.Loader(request with { Limit = null }, dataset, config, train: false);
        var images = Enumerable.Range(index, count).Select(i => loader.GetSample(0, i)).ToList();
        var names = Enumerable.Range(index, count).Select(i => Label(dataset, i)).ToArray();
        return new ImageBatch(Stack(images), names, DataSetup.NormalizationFor(request, dataset, config.InChans));
    }

    /// <summary>
    /// The first <paramref name="images"/> images of the split (fewer if the dataset or <c>--limit</c> is smaller) in
    /// batches of <paramref name="batchSize"/>, evaluation transform, file order. Each batch is disposed when the next
    /// is requested (or the enumeration ends); the consumer must not keep it.
    /// </summary>
    public static IEnumerable<Tensor> Batches(DataRequest request, MaeConfig config, int images, int batchSize, DataSplit split = DataSplit.Test)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (images < 1) throw new ArgumentException($"--limit must be at least 1, got {images}");
        if (batchSize < 1) throw new ArgumentException($"--batch-size must be at least 1, got {batchSize}");
        var dataset = DataSetup.Open(request, split);
        int limit = Math.Min(images, request.Limit ?? int.MaxValue);
        return Stream(request with { Limit = limit, BatchSize = batchSize }, dataset, config);
    }

    /// <summary>Name of the dataset <paramref name="request"/> opens for <paramref name="split"/>.</summary>
    public static string DatasetName(DataRequest request, DataSplit split = DataSplit.Test) => request.EffectiveSpec(split);

    private static IEnumerable<Tensor> Stream(DataRequest request, IImageDataset dataset, MaeConfig config)
    {
        using var loader = DataSetup.Loader(request, dataset, config, train: false);
        foreach (var batch in loader.Epoch(0))
        {
            using (batch)
                yield return batch.Images;
        }
    }

    private static string Label(IImageDataset dataset, int index)
    {
        int label = dataset.GetLabel(index);
        return label >= 0 && label < dataset.ClassNames.Count ? $"#{index} {dataset.ClassNames[label]}" : $"#{index}";
    }

    private static Tensor Stack(IReadOnlyList<FloatImage> images)
    {
        using var scope = NewDisposeScope();
        return stack(images.Select(i => i.ToTensor()).ToArray(), 0).MoveToOuterDisposeScope();
    }
}
