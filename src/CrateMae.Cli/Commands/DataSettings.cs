using System.ComponentModel;
using CrateMae.Data;
using Spectre.Console;
using Spectre.Console.Cli;

namespace CrateMae.Cli.Commands;

/// <summary>Options of every command that reads a dataset.</summary>
public class DataSettings : CommonSettings
{
    [CommandOption("--data <SPEC>")]
    [Description("Dataset: fashion-mnist (default), cifar10:DIR, cifar100:DIR, folder:DIR, mnist:DIR; ':test' picks the split.")]
    public string Data { get; init; } = "fashion-mnist";

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
    [Description("Use only the first N images of each split (quick runs).")]
    public int? Limit { get; init; }

    [CommandOption("--device <DEVICE>")]
    [Description("cpu (default), cuda or cuda:N (needs a CUDA libtorch package, see README).")]
    public string Device { get; init; } = "cpu";

    public override ValidationResult Validate()
    {
        if (Workers < 1) return ValidationResult.Error("--workers: expected an integer ≥ 1");
        if (Limit is < 1) return ValidationResult.Error("--limit: expected an integer ≥ 1");
        return base.Validate();
    }

    public DataRequest Request(int batchSize, ulong seed = 0) => new()
    {
        Spec = Data, DataDir = DataDir, SkipBadImages = SkipBadImages, BatchSize = batchSize, Workers = Workers,
        Limit = Limit, Seed = seed,
    };
}
