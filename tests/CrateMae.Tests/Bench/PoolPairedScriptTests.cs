using System.Text.Json;
using CrateMae.Tests.Data;
using CrateMae.Tests.Support;
using static CrateMae.Tests.Interop.InteropTestSupport;

namespace CrateMae.Tests.Bench;

/// <summary><c>bench/pool_paired.py</c>: the per-round ratios of several saved paired runs pooled into one median and quartiles.</summary>
public sealed class PoolPairedScriptTests : IDisposable
{
    private readonly TempDirectory _tmp = new();

    private static string Script => Path.Combine(Fixtures.RepoRoot, "bench", "pool_paired.py");

    public void Dispose() => _tmp.Dispose();

    private string Run(string name, string model, double officialImgPerS, double[] fp32, double[] bf16, string? mode = "paired")
    {
        object Column(double[] s) => new { median_img_per_s = 1.0, step_seconds = s, speedups = s };
        var doc = new
        {
            schema = "crate-mae/vs-official/1",
            mode,
            args = new { model, img = (int?)null, batch = 8, threads = 2 },
            summary = new
            {
                train = new Dictionary<string, object>
                {
                    ["rounds"] = fp32.Length, ["official"] = new { median_img_per_s = officialImgPerS }, ["fp32"] = Column(fp32), ["bf16"] = Column(bf16),
                },
            },
        };
        var path = Path.Combine(_tmp.Path, name);
        File.WriteAllText(path, JsonSerializer.Serialize(doc));
        return path;
    }

    [SkippableFact]
    public void Given_two_paired_runs_When_pooled_Then_the_median_and_quartiles_are_those_of_all_their_rounds()
    {
        Skip.IfNot(File.Exists(PythonPath), $"{PythonPath} not found");
        var a = Run("a.json", "crate-small", 1.31, [1, 2, 3], [10, 20, 30]);
        var b = Run("b.json", "crate-small", 1.76, [4, 5], [40, 50]);

        var (code, stdout, stderr) = RunPythonFile(Script, [a, b], "");

        Assert.True(code == 0, stderr + stdout);
        // Pooled fp32 ratios 1…5: median 3, inclusive quartiles 2 and 4 (each run alone would say 2 and 4.5).
        Assert.Contains("train: 5 rounds, official img/s per run 1.31, 1.76; fp32 3.00× [2.00, 4.00] bf16 30.00× [20.00, 40.00]", stdout);
    }

    [SkippableFact]
    public void Given_runs_of_different_models_When_pooled_Then_it_stops_naming_the_file()
    {
        Skip.IfNot(File.Exists(PythonPath), $"{PythonPath} not found");
        var a = Run("a.json", "crate-small", 1.3, [1, 2], [3, 4]);
        var b = Run("b.json", "bench/cmp32.json", 40, [1, 2], [3, 4]);

        var (code, _, stderr) = RunPythonFile(Script, [a, b], "");

        Assert.NotEqual(0, code);
        Assert.Contains($"{b}: model, image size, batch and threads", stderr);
    }

    [SkippableFact]
    public void Given_a_run_that_was_not_paired_When_pooled_Then_it_stops_naming_the_file_and_what_was_expected()
    {
        Skip.IfNot(File.Exists(PythonPath), $"{PythonPath} not found");
        var a = Run("a.json", "crate-small", 1.3, [1, 2], [3, 4], mode: null);   // the rounds mode writes no "mode"

        var (code, _, stderr) = RunPythonFile(Script, [a], "");

        Assert.NotEqual(0, code);
        Assert.Contains($"{a}: expected the JSON of a `vs_official.py --paired --json` run", stderr);
    }
}
