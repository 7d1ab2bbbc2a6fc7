using CrateMae.Models;

namespace CrateMae.Data;

/// <summary>What a command needs to read images for a model: which data, how to decode and normalise, how to batch.</summary>
public sealed record DataRequest
{
    /// <summary>Dataset spec (see <see cref="DatasetFactory.AcceptedForms"/>), default Fashion-MNIST.</summary>
    public string Spec { get; init; } = "fashion-mnist";
    /// <summary>Overrides the folder of the spec (e.g. where Fashion-MNIST's idx files are).</summary>
    public string? DataDir { get; init; }
    public bool SkipBadImages { get; init; }
    public int BatchSize { get; init; } = 128;
    public int Workers { get; init; } = 1;
    public int? Limit { get; init; }
    public ulong Seed { get; init; }
    /// <summary>Smallest RandomResizedCrop area for training (MAE: 0.2).</summary>
    public double MinCropScale { get; init; } = 0.2;
    /// <summary>Normalisation to use instead of the dataset's default (e.g. the one a checkpoint was trained with).</summary>
    public NormalizationStats? Normalization { get; init; }

    /// <summary>The spec with <see cref="DataDir"/> applied.</summary>
    public string EffectiveSpec(DataSplit split)
    {
        var (kind, path, specSplit) = DatasetFactory.Parse(Spec);
        var dir = DataDir ?? path;
        var s = specSplit ?? split;
        return kind + (dir is null ? "" : ":" + dir) + ":" + (s == DataSplit.Train ? "train" : "test");
    }
}

/// <summary>Opens datasets and builds loaders sized and normalised for a model config.</summary>
public static class DataSetup
{
    public static IImageDataset Open(DataRequest request, DataSplit split)
    {
        var spec = request.EffectiveSpec(split);
        var options = new ImageFolderOptions { SkipBadImages = request.SkipBadImages };
        return DatasetFactory.Open(spec, split, options);
    }

    /// <summary>The normalisation for <paramref name="dataset"/> as seen by a model with <paramref name="channels"/> channels.</summary>
    public static NormalizationStats NormalizationFor(DataRequest request, IImageDataset dataset, int channels) =>
        (request.Normalization ?? dataset.DefaultNormalization).ForChannels(channels);

    /// <summary>
    /// A loader producing [B, C, S, S] batches for <paramref name="config"/>: augmenting (RandomResizedCrop + flip) and
    /// shuffled when <paramref name="train"/>, else resize + center-crop in file order.
    /// </summary>
    public static DataLoader Loader(DataRequest request, IImageDataset dataset, MaeConfig config, bool train, int? imageSize = null, bool dropLast = false)
    {
        int size = imageSize ?? config.ImgSize;
        var stats = NormalizationFor(request, dataset, config.InChans);
        var pipeline = train
            ? TransformPipeline.Train(size, config.InChans, stats, minScale: request.MinCropScale)
            : TransformPipeline.Eval(size, config.InChans, stats);
        return new DataLoader(dataset, pipeline, new DataLoaderOptions
        {
            BatchSize = request.BatchSize, Shuffle = train, DropLast = dropLast, Seed = request.Seed,
            Limit = request.Limit, Workers = request.Workers,
        });
    }
}
