using CrateMae.Data;
using CrateMae.Tests.Data;
using SkiaSharp;

namespace CrateMae.Tests.Reliability;

/// <summary>Tests that run the CLI in-process share the console, so they never run in parallel with each other.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ReliabilityCollection
{
    public const string Name = "Reliability";
}

/// <summary>Small synthetic datasets and settings shared by the reliability tests.</summary>
internal static class ReliabilityData
{
    /// <summary>Iterations of the long-running reliability tests: $CRATE_MAE_RELIABILITY_ITERATIONS, else <paramref name="ci"/>.</summary>
    public static int Iterations(int ci) =>
        int.TryParse(Environment.GetEnvironmentVariable("CRATE_MAE_RELIABILITY_ITERATIONS"), out var n) && n > 0 ? n : ci;

    /// <summary>Seed of the randomised reliability tests: $CRATE_MAE_RELIABILITY_SEED, else 7.</summary>
    public static int Seed =>
        int.TryParse(Environment.GetEnvironmentVariable("CRATE_MAE_RELIABILITY_SEED"), out var s) ? s : 7;

    /// <summary>An MNIST-layout folder (train and t10k) of <paramref name="n"/> random 28×28 images.</summary>
    public static string Mnist(TempDirectory tmp, int n = 64, string name = "mnist")
    {
        var dir = tmp.Dir(name);
        TestFiles.WriteMnistLayout(dir, n, 28, 28, gzip: false);
        return dir;
    }

    /// <summary>A flat folder of <paramref name="n"/> random 20×20 PNG images.</summary>
    public static string ImageFolder(TempDirectory tmp, int n = 8, string name = "images")
    {
        var dir = tmp.Dir(name);
        for (int i = 0; i < n; i++)
            TestFiles.WriteImage(Path.Combine(dir, $"img{i:D3}.png"), TestFiles.RandomRgb(20, 20, 100 + i), SKEncodedImageFormat.Png);
        return dir;
    }

    /// <summary>Common pretrain arguments for a few quick steps of the tiny model on <paramref name="data"/>.</summary>
    public static string[] Pretrain(string data, string output, params string[] extra) =>
    [
        "pretrain", "--model", Cli.TinyModel, "--data", data, "--output", output, "--batch-size", "8", "--epochs", "1",
        "--eval-images", "8", "--checkpoint-minutes", "0", .. extra,
    ];
}
