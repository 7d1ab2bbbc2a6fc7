using System.Text.Json;
using CrateMae.Cli;
using CrateMae.Cli.Commands;
using CrateMae.Data;
using CrateMae.Tests.Data;
using CrateMae.Training;
using SkiaSharp;
using Spectre.Console.Cli;

namespace CrateMae.Tests.Analysis;

/// <summary>The analysis CLI tests swap Console.Error, so they run one at a time.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class AnalysisCliCollection : ICollectionFixture<AnalysisCliFixture>
{
    public const string Name = "Analysis CLI";
}

/// <summary>
/// A tiny trained-looking run for the command tests: the tiny CRATE model (16×16 grey, patch 4, D 16, 2 heads,
/// 2 layers) saved as <c>RUN/final.ckpt</c> with a normalisation, and an unlabeled image folder of 6 PNGs (24×20,
/// so they are resized and center-cropped) showing a bright rectangle on black.
/// </summary>
public sealed class AnalysisCliFixture : IDisposable
{
    private readonly TempDirectory _tmp = new();

    public AnalysisCliFixture()
    {
        AnalysisTestSupport.Init();
        Run = _tmp.Dir("run");
        Images = _tmp.Dir("images");
        using (var model = AnalysisTestSupport.TinyModel())
        {
            var meta = new Dictionary<string, string>
            {
                ["normalization"] = JsonSerializer.Serialize(new { mean = new[] { 0.2f }, std = new[] { 0.3f } }),
                ["data"] = "folder:" + Images,
            };
            ModelSource.Save(model, Path.Combine(Run, "final.ckpt"), meta);
        }
        var rng = new Random(5);
        for (int i = 0; i < 6; i++)
        {
            var pixels = new byte[3 * 24 * 20];
            int y0 = 4 + rng.Next(6), x0 = 3 + rng.Next(6), h = 5 + rng.Next(6), w = 4 + rng.Next(6);
            for (int c = 0; c < 3; c++)
                for (int y = y0; y < Math.Min(24, y0 + h); y++)
                    for (int x = x0; x < Math.Min(20, x0 + w); x++)
                        pixels[(c * 24 + y) * 20 + x] = (byte)(150 + rng.Next(100));
            TestFiles.WriteImage(Path.Combine(Images, $"img{i}.png"), new ImageData(3, 24, 20, pixels), SKEncodedImageFormat.Png);
        }
    }

    /// <summary>The run folder (final.ckpt only).</summary>
    public string Run { get; }

    /// <summary>The image folder.</summary>
    public string Images { get; }

    /// <summary>--data spec of the image folder.</summary>
    public string Data => "folder:" + Images;

    /// <summary>A fresh output folder for one test.</summary>
    public string NewDir(string name) => _tmp.Dir(name + "-" + Guid.NewGuid().ToString("N")[..8]);

    /// <summary>Runs crate-mae with the analysis commands as the real program does (errors → one stderr line + exit code).</summary>
    public static (int Code, string Error) Cli(params string[] args)
    {
        var app = new CommandApp();
        app.Configure(config =>
        {
            config.PropagateExceptions();
            config.AddCommand<AnalyzeCommand>("analyze");
            config.AddCommand<AttentionCommand>("attention");
            config.AddCommand<PcaCommand>("pca");
            config.AddCommand<ReconstructCommand>("reconstruct");
            config.AddCommand<ReportCommand>("report");
        });
        var error = new StringWriter();
        var previous = Console.Error;
        Console.SetError(error);
        try
        {
            int code = CliErrors.Run(() => app.Run(args), args);
            // The error console wraps long lines at the terminal width (80 when redirected): undo that for matching.
            return (code, System.Text.RegularExpressions.Regex.Replace(error.ToString(), @"\s+", " "));
        }
        finally
        {
            Console.SetError(previous);
        }
    }

    public void Dispose() => _tmp.Dispose();
}
