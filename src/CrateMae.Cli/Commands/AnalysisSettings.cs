using System.ComponentModel;
using CrateMae.Analysis;
using CrateMae.Data;
using CrateMae.Models;
using CrateMae.Training;
using Spectre.Console;
using Spectre.Console.Cli;

namespace CrateMae.Cli.Commands;

/// <summary>Options shared by the analysis commands (analyze, attention, pca, reconstruct).</summary>
public class AnalysisSettings : CheckpointSettings
{
    /// <summary>Dataset images the analysis statistics use when --limit is not given.</summary>
    public const int DefaultLimit = 256;

    public override ValidationResult Validate()
    {
        if (string.IsNullOrWhiteSpace(Checkpoint)) return ValidationResult.Error("--checkpoint is required (a run folder or a checkpoint file)");
        return base.Validate();
    }

    /// <summary>Loads --checkpoint (with --model for foreign weights) onto --device, in eval mode.</summary>
    public LoadedModel LoadModel()
    {
        var loaded = ModelSource.Load(Checkpoint!, Model, Device);
        loaded.Model.eval();
        return loaded;
    }

    /// <summary>The data request with the checkpoint's normalisation (when it stored one).</summary>
    public DataRequest RequestFor(LoadedModel loaded) => Request() with { Normalization = loaded.Normalization };

    /// <summary>Default folder for analysis outputs: RUN/analysis for a run folder, else FILE-analysis beside the file.</summary>
    public string DefaultFolder()
    {
        var full = Path.GetFullPath(Checkpoint!);
        return Directory.Exists(full)
            ? Path.Combine(full, "analysis")
            : Path.Combine(Path.GetDirectoryName(full)!, Path.GetFileNameWithoutExtension(full) + "-analysis");
    }

    /// <summary>A short legend name for a checkpoint: the run folder's name, or the file name.</summary>
    public static string ShortName(string checkpoint) => Path.GetFileName(Path.GetFullPath(checkpoint).TrimEnd(Path.DirectorySeparatorChar));

    /// <summary>
    /// Checks <c>--layer</c>, an encoder block number 1 … depth (default: the last), as linprobe, knn and embed count
    /// blocks, against the model; returns the block number (the library counts blocks the same way).
    /// </summary>
    public static int CheckLayer(int? layer, MaeConfig config)
    {
        int depth = config.Depth;
        int l = layer ?? depth;
        if (l < 1 || l > depth)
            throw new ArgumentException($"--layer {l} is out of range: {config.Name} has {depth} encoder blocks, numbered 1 … {depth} (default: the last, {depth})");
        return l;
    }

    /// <summary>Warns when the checkpoint was trained on another dataset than --data names.</summary>
    public void WarnOnDataMismatch(LoadedModel loaded)
    {
        if (loaded.DataDescription is not { } trained) return;
        static string Kind(string spec) => spec.Split(':')[0].ToLowerInvariant();
        if (Kind(trained) != Kind(DataSpec))
            Console.Error.WriteLine($"warning: {Checkpoint} was trained on {trained}, but --data is {DataSpec}");
    }
}

/// <summary>Options of the commands that look at chosen images: --image FILE… or --data … --index I --count K, and --layer.</summary>
public class ImageSelectionSettings : AnalysisSettings
{
    [CommandOption("--image <FILE>")]
    [Description("An image file (PNG/JPEG/BMP/WebP/GIF); repeat for several. Resized and center-cropped to the model's size.")]
    public string[] Image { get; init; } = [];

    [CommandOption("--index <I>")]
    [Description("First dataset image to show (test split unless --data names one; default 0).")]
    public int? Index { get; init; }

    [CommandOption("--count <K>")]
    [Description("How many dataset images the figure shows, from --index on (--limit is how many images a run uses).")]
    public int? Count { get; init; }

    /// <summary>Dataset images shown when --count is not given.</summary>
    protected virtual int DefaultCount => 4;

    public override ValidationResult Validate()
    {
        if (Image.Length > 0 && (Index is not null || Count is not null))
            return ValidationResult.Error("give either --image FILE… or --index/--count (dataset images), not both");
        if (Index is < 0) return ValidationResult.Error("--index: expected an integer ≥ 0");
        if (Count is < 1) return ValidationResult.Error("--count: expected an integer ≥ 1");
        return base.Validate();
    }

    /// <summary>The images to show, normalised for the model.</summary>
    public ImageBatch LoadImages(LoadedModel loaded) =>
        Image.Length > 0
            ? AnalysisImages.FromFiles(Image, loaded.Model.Config, loaded.Normalization)
            : AnalysisImages.FromDataset(RequestFor(loaded), loaded.Model.Config, Index ?? 0, Count ?? DefaultCount, clamp: Count is null);

    /// <summary>True when the images come from the dataset (no --image).</summary>
    public bool UsesDataset => Image.Length == 0;

    /// <summary>
    /// -o|--output (the PNG; a .json summary is written beside it), or NAME in the default analysis folder (RUN/analysis/
    /// for a run folder, FILE-analysis/ beside a checkpoint file).
    /// </summary>
    public string OutputPath(string name) => Path.GetFullPath(Output ?? Path.Combine(DefaultFolder(), name));
}

/// <summary>Image selection plus --layer (attention, pca).</summary>
public class LayerImageSettings : ImageSelectionSettings
{
    [CommandOption("--layer <L>")]
    [Description("Encoder block, 1 … depth (default the last), numbered as in linprobe/knn/embed and the analysis plots.")]
    public int? Layer { get; init; }
}
