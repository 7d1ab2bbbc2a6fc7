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
    /// <summary>Probability of a horizontal flip in the training augmentation.</summary>
    public double FlipProbability { get; init; } = 0.5;
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
        // Headers are checked up front so an undecodable or enormous file is reported before training starts.
        var options = new ImageFolderOptions { SkipBadImages = request.SkipBadImages, ValidateHeaders = true };
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
        CheckConvertible(config, size);
        var stats = NormalizationFor(request, dataset, config.InChans);
        var pipeline = train
            ? TransformPipeline.Train(size, config.InChans, stats, minScale: request.MinCropScale, flipProbability: request.FlipProbability)
            : TransformPipeline.Eval(size, config.InChans, stats);
        return new DataLoader(dataset, pipeline, new DataLoaderOptions
        {
            BatchSize = request.BatchSize, Shuffle = train, DropLast = dropLast, Seed = request.Seed,
            Limit = request.Limit, Workers = request.Workers,
        });
    }

    /// <summary>
    /// Reads one image file (PNG/JPEG/BMP/WebP/GIF) as the model sees it: converted to the model's channels, resized
    /// (shorter side) and center-cropped to <paramref name="imageSize"/> (default the model's size), normalised.
    /// Returns a [1, C, S, S] float32 tensor.
    /// </summary>
    /// <exception cref="FileNotFoundException">When the file does not exist.</exception>
    /// <exception cref="InvalidDataException">When it is empty, not a decodable image, truncated or larger than <paramref name="maxPixels"/>.</exception>
    /// <exception cref="ArgumentException">When the model's channels or patch size make the conversion impossible.</exception>
    public static TorchSharp.torch.Tensor LoadImage(string path, MaeConfig config, NormalizationStats normalization, int? imageSize = null,
                                                    long maxPixels = 64L * 1000 * 1000)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        int size = imageSize ?? config.ImgSize;
        CheckConvertible(config, size);
        var image = SkiaDecoder.DecodeRgb(path, maxPixels);
        var pipeline = TransformPipeline.Eval(size, config.InChans, normalization.ForChannels(config.InChans));
        FloatImage x;
        try
        {
            x = pipeline.Apply(image, 0, 0, 0);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"Image file '{path}': {e.Message}", e);
        }
        return TorchSharp.torch.tensor(x.Data, new long[] { 1, x.Channels, x.Height, x.Width });
    }

    /// <summary>Throws a clear error when images cannot be brought into the shape <paramref name="config"/> needs.</summary>
    public static void CheckConvertible(MaeConfig config, int imageSize)
    {
        if (config.InChans is not (1 or 3))
            throw new ArgumentException(
                $"model '{config.Name}' takes {config.InChans}-channel images, but images can only be converted to 1 (gray) or 3 (RGB) channels");
        if (imageSize <= 0 || imageSize % config.PatchSize != 0)
            throw new ArgumentException($"image size {imageSize} is not a positive multiple of model '{config.Name}''s patch size {config.PatchSize}");
    }
}
