using CrateMae.Tests.Data;
using CrateMae.Tests.Support;
using static CrateMae.Tests.Interop.InteropTestSupport;

namespace CrateMae.Tests.Bench;

/// <summary><c>bench/track_runs.py</c>: how closely one run's logged losses and test losses track another's, and their memory.</summary>
public sealed class TrackRunsScriptTests : IDisposable
{
    private readonly TempDirectory _tmp = new();

    private static string Script => Path.Combine(Fixtures.RepoRoot, "bench", "track_runs.py");

    public void Dispose() => _tmp.Dispose();

    /// <summary>A run folder whose metrics.jsonl logs every 10th of 40 steps with the given losses, RSS and live tensors.</summary>
    private string RunFolder(string name, double[] losses, double[] rss, int live, double testStart, double testEnd)
    {
        var dir = Directory.CreateDirectory(Path.Combine(_tmp.Path, name)).FullName;
        var lines = new List<string> { $$"""{"type":"epoch","epoch":0,"step":0,"test_loss":{{testStart}}}""" };
        for (int i = 0; i < losses.Length; i++)
            lines.Add($$"""{"type":"step","epoch":1,"step":{{10 * (i + 1)}},"loss":{{losses[i]}},"rss_mb":{{rss[i]}},"live_tensors":{{live}}}""");
        lines.Add($$"""{"type":"epoch","epoch":1,"step":40,"test_loss":{{testEnd}}}""");
        File.WriteAllLines(Path.Combine(dir, "metrics.jsonl"), lines);
        return dir;
    }

    [SkippableFact]
    public void Given_two_runs_When_compared_in_windows_Then_each_windows_mean_gap_and_the_memory_are_reported()
    {
        Skip.IfNot(File.Exists(PythonPath), $"{PythonPath} not found");
        var a = RunFolder("fp32", [1.0, 0.6, 0.5, 0.3], [500, 600, 610, 605], 353, 2.5, 0.40);
        var b = RunFolder("bf16", [1.2, 0.6, 0.44, 0.36], [450, 550, 560, 555], 353, 2.5, 0.42);

        var (code, stdout, stderr) = RunPythonFile(Script, [a, b, "--window", "20", "--from-step", "20"], "");

        Assert.True(code == 0, stderr + stdout);
        // Windows of 20 steps: means (1.0 + 0.6)/2 = 0.8 → 0.9, and (0.5 + 0.3)/2 = 0.4 → 0.4.
        Assert.Contains("steps 1–20: 0.8000 → 0.9000 (+12.5 %)", stdout);
        Assert.Contains("steps 21–40: 0.4000 → 0.4000 (+0.0 %)", stdout);
        Assert.Contains("largest gap +12.5 % (steps 1–20), last window +0.0 %", stdout);
        Assert.Contains("test loss after epoch 1: 0.4000 → 0.4200 (+5.00 %)", stdout);
        Assert.Contains("A: RSS 600–610 MB over steps 20–40 (step 10: 500 MB), live tensors [353]", stdout);
        Assert.Contains("B: RSS 550–560 MB over steps 20–40 (step 10: 450 MB), live tensors [353]", stdout);
    }

    [SkippableFact]
    public void Given_a_folder_without_metrics_When_compared_Then_it_stops_naming_the_file()
    {
        Skip.IfNot(File.Exists(PythonPath), $"{PythonPath} not found");
        var a = RunFolder("fp32", [1.0, 0.6], [500, 600], 353, 2.5, 0.4);
        var empty = Directory.CreateDirectory(Path.Combine(_tmp.Path, "empty")).FullName;

        var (code, _, stderr) = RunPythonFile(Script, [a, empty], "");

        Assert.NotEqual(0, code);
        Assert.Contains($"{Path.Combine(empty, "metrics.jsonl")}: cannot read a run's metrics.jsonl", stderr);
    }
}
