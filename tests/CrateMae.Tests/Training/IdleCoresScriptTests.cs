using CrateMae.Tests.Data;
using CrateMae.Tests.Support;
using static CrateMae.Tests.Interop.InteropTestSupport;

namespace CrateMae.Tests.Training;

/// <summary><c>bench/idle_cores.py</c>: from a system-wide perf profile, how often one core idles while the other runs, and what runs then.</summary>
public sealed class IdleCoresScriptTests : IDisposable
{
    private readonly TempDirectory _tmp = new();

    private static string Script => Path.Combine(Fixtures.RepoRoot, "bench", "idle_cores.py");

    public void Dispose() => _tmp.Dispose();

    /// <summary>One `perf script -F cpu,tid,comm,time,ip,sym,dso` line (the tick's time at 1000 Hz).</summary>
    private static string Sample(string comm, int tid, int cpu, int tick, string sym) =>
        $"{comm,16} {tid,5} [{cpu:D3}] {tick / 1000.0 + 100:F6}:     7f00deadbeef {sym} (/lib/x.so)";

    [Fact]
    public void Given_ticks_with_one_core_idle_When_analysed_Then_their_share_and_what_ran_alone_are_reported()
    {
        if (!File.Exists(PythonPath)) return;
        // Given: 10 ticks on 2 CPUs. Ticks 0–5 both busy (gemm on both), ticks 6–8 CPU 1 idle while CPU 0 runs
        // "softmax" (twice) or "gemm" (once), tick 9 both idle; one tick has only CPU 0's sample and is not counted.
        var lines = new List<string>();
        for (int t = 0; t < 6; t++)
        {
            lines.Add(Sample("exe", 10, 0, t, "gemm"));
            lines.Add(Sample(".NET TP Worker", 11, 1, t, "gemm"));
        }
        string[] alone = ["softmax", "softmax", "gemm"];
        for (int t = 6; t < 9; t++)
        {
            lines.Add(Sample("exe", 10, 0, t, alone[t - 6]));
            lines.Add(Sample("swapper", 0, 1, t, "pv_native_safe_halt"));
        }
        lines.Add(Sample("swapper", 0, 0, 9, "pv_native_safe_halt"));
        lines.Add(Sample("swapper", 0, 1, 9, "pv_native_safe_halt"));
        lines.Add(Sample("exe", 10, 0, 10, "gemm"));
        var file = Path.Combine(_tmp.Path, "perf.txt");
        File.WriteAllLines(file, lines);

        // When
        var (code, stdout, stderr) = RunPythonFile(Script, [file, "--hz", "1000"], "");

        // Then
        Assert.True(code == 0, stderr + stdout);
        Assert.Contains("2 CPUs, 10 ticks with a sample from each", stdout);
        Assert.Contains("all busy 6 (60.0 %), partly idle 3 (30.0 %), all idle 1 (10.0 %)", stdout);
        Assert.Contains("      3  exe (10)", stdout);
        Assert.Contains("      2   66.7 %  softmax", stdout);
        Assert.Contains("     13        1    7.7 %  gemm", stdout);      // 12 busy-tick samples + 1 alone
        Assert.Contains("      2        2  100.0 %  softmax", stdout);
    }

    [Fact]
    public void Given_a_file_that_is_not_perf_script_output_When_analysed_Then_it_stops_naming_the_file()
    {
        if (!File.Exists(PythonPath)) return;
        var file = Path.Combine(_tmp.Path, "notes.txt");
        File.WriteAllText(file, "hello\n");

        var (code, _, stderr) = RunPythonFile(Script, [file], "");

        Assert.NotEqual(0, code);
        Assert.Contains($"{file}: no samples; expected the output of perf script -F cpu,tid,comm,time,ip,sym,dso", stderr);
    }
}
