using System.ComponentModel;
using CrateMae.Data;
using Spectre.Console;
using Spectre.Console.Cli;

namespace CrateMae.Cli.Commands;

/// <summary>
/// Options of every command that reads a dataset: the data source, how many of its images a run uses (<c>--limit</c>),
/// the batch size and where the results go (<c>-o|--output</c>).
/// </summary>
public class DataSettings : ModelSettings
{
    /// <summary>The dataset when --data is not given.</summary>
    public const string DefaultData = "fashion-mnist";

    [CommandOption("--data <SPEC>")]
    [Description("Dataset: fashion-mnist (default), cifar10:DIR, cifar100:DIR, folder:DIR, mnist:DIR; ':test' picks the split.")]
    public string? Data { get; init; }

    [CommandOption("--data-dir <DIR>")]
    [Description("Folder of the dataset files (overrides the folder in --data; Fashion-MNIST default /usr/share/datasets/fashion-mnist).")]
    public string? DataDir { get; init; }

    [CommandOption("--skip-bad-images")]
    [Description("In folder datasets, skip and count undecodable files instead of stopping.")]
    public bool SkipBadImages { get; init; }

    [CommandOption("--workers <N>")]
    [Description("Background threads decoding and augmenting images (default 1).")]
    public int Workers { get; init; } = 1;

    [CommandOption("--limit <N>")]
    [Description("How many dataset images the run uses: the first N of each split (default: all; analyze, attention and report: 256).")]
    public int? Limit { get; init; }

    [CommandOption("--device <DEVICE>")]
    [Description("cpu (default), cuda or cuda:N (needs a CUDA libtorch package, see README).")]
    public string Device { get; init; } = "cpu";

    [CommandOption("-b|--batch-size <N>")]
    [Description("Images per step or forward pass (default: pretrain and finetune 128, linprobe/knn/embed 256, analysis commands 64).")]
    public int? BatchSize { get; init; }

    [CommandOption("-o|--output <PATH>")]
    [Description("Where the results go: the run folder (pretrain), the output folder (finetune, analyze) or the output file " +
                 "(the others); the default is beside the checkpoint or run, see the command's description.")]
    public string? Output { get; init; }

    /// <summary>--data, or the default dataset.</summary>
    public string DataSpec => Data ?? DefaultData;

    /// <summary>The command's batch size when --batch-size is not given.</summary>
    protected virtual int DefaultBatchSize => 64;

    /// <summary>--batch-size, or the command's default.</summary>
    public int Batch => BatchSize ?? DefaultBatchSize;

    public override ValidationResult Validate()
    {
        if (Workers < 1) return ValidationResult.Error("--workers: expected an integer ≥ 1");
        if (Limit is < 1) return ValidationResult.Error("--limit: expected an integer ≥ 1");
        if (BatchSize is < 1) return ValidationResult.Error("--batch-size: expected an integer ≥ 1");
        return base.Validate();
    }

    public DataRequest Request(ulong seed = 0) => new()
    {
        Spec = DataSpec, DataDir = DataDir, SkipBadImages = SkipBadImages, BatchSize = Batch, Workers = Workers,
        Limit = Limit, Seed = seed,
    };
}

/// <summary>Options of the commands that read a checkpoint (evaluation and analysis).</summary>
public class CheckpointSettings : DataSettings
{
    [CommandOption("-c|--checkpoint <PATH>")]
    [Description("Pre-training run folder (its final model) or checkpoint file (.ckpt; .pth/.safetensors weights need --model).")]
    public string? Checkpoint { get; init; }
}
