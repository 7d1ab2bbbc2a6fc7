using System.Text.Json;
using CrateMae.Tests.Data;
using CrateMae.Tests.Support;
using static CrateMae.Tests.Interop.InteropTestSupport;

namespace CrateMae.Tests.Bench;

/// <summary>
/// <c>bench/pretrain_screen.py</c>: the commands it runs for each setting (with a stand-in for crate-mae that records
/// them and writes what the real commands write) and the table it prints from the results.
/// </summary>
public sealed class PretrainScreenScriptTests : IDisposable
{
    private readonly TempDirectory _tmp = new();

    private static string Script => Path.Combine(Fixtures.RepoRoot, "bench", "pretrain_screen.py");

    public void Dispose() => _tmp.Dispose();

    /// <summary>
    /// A stand-in crate-mae: logs its arguments (to calls.txt beside it), prints a config for <c>info</c>, writes config.json (calibrated at
    /// 256 img/s) and summary.json for <c>pretrain</c>, and a result for <c>linprobe</c>/<c>knn</c> at <c>-o</c>.
    /// </summary>
    private string FakeCli()
    {
        var path = Path.Combine(_tmp.Path, "fake-crate-mae");
        File.WriteAllText(path, """
            #!/usr/bin/python3
            import json, os, sys
            a = sys.argv[1:]
            open(os.path.join(os.path.dirname(__file__), "calls.txt"), "a").write(" ".join(a) + "\n")
            opt = lambda name: a[a.index(name) + 1]
            if a[0] == "info":
                print(json.dumps({"config": {"name": "crate-fmnist", "lambd": 0.5, "decoder_depth": 6}}))
            elif a[0] == "pretrain":
                run = opt("-o"); os.makedirs(run, exist_ok=True)
                json.dump({"training": {"calibration": {"images_per_second": 256.0}}}, open(os.path.join(run, "config.json"), "w"))
                json.dump({"steps": 936, "wall_seconds": 480.0}, open(os.path.join(run, "summary.json"), "w"))
            elif a[0] == "linprobe":
                json.dump({"top1": 0.85, "val_curve": [{"val_top1": 0.86}, {"val_top1": 0.864}]}, open(opt("-o"), "w"))
            else:
                json.dump({"top1": 0.8546, "val_top1": 0.8503, "whiten": 384,
                           "whiten_curve": [{"components": 0, "val_top1": 0.7975}, {"components": 384, "val_top1": 0.8503}]}, open(opt("-o"), "w"))
            """.Replace("\r\n", "\n"));
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return path;
    }

    [SkippableFact]
    public void Given_three_settings_When_screened_Then_the_baseline_runs_first_each_change_is_one_option_and_the_table_has_a_row_each()
    {
        Skip.IfNot(File.Exists(PythonPath), $"{PythonPath} not found");
        var runs = Path.Combine(_tmp.Path, "runs");

        var (code, stdout, stderr) = RunPythonFile(Script, ["--only", "lambd01,dec2", "--runs", runs, "--crate-mae", FakeCli()], "");

        Assert.True(code == 0, stderr + stdout);
        var calls = File.ReadAllLines(Path.Combine(_tmp.Path, "calls.txt")).Where(l => !l.StartsWith("info", StringComparison.Ordinal)).ToArray();
        string Run(string n) => Path.Combine(runs, "screen-" + n);
        Assert.Equal($"pretrain -o {Run("base")} --epochs 2 --minutes 30", calls[0]);            // the calibration the equal-time row needs
        Assert.Equal($"pretrain -o {Run("lambd01")} --model {runs}/screen-lambd01.model.json --epochs 2 --minutes 0", calls[3]);
        // 936 steps × 128 images at the baseline's 256 img/s = 7.80 min.
        Assert.Equal($"pretrain -o {Run("dec2")} --model {runs}/screen-dec2.model.json --epochs 8 --minutes 7.80", calls[6]);
        Assert.Equal($"linprobe --checkpoint {Run("dec2")} --layer 3 --pool grid --reg 1e-5,1e-4,1e-3 -o {Run("dec2")}/screen/linprobe.json", calls[7]);
        Assert.Equal($"knn --checkpoint {Run("dec2")} --layer 3 --pool grid --whiten 0,64,128,256,384 -o {Run("dec2")}/screen/knn.json", calls[8]);
        using var model = JsonDocument.Parse(File.ReadAllText(Path.Combine(runs, "screen-dec2.model.json")));
        Assert.Equal(2, model.RootElement.GetProperty("decoder_depth").GetInt32());
        Assert.Equal(0.5, model.RootElement.GetProperty("lambd").GetDouble());
        Assert.Equal("crate-fmnist-dec2", model.RootElement.GetProperty("name").GetString());

        var rows = stdout.Split('\n').Where(l => l.StartsWith("| ", StringComparison.Ordinal)).ToArray();
        Assert.Equal(4, rows.Length);                                                             // header, base, lambd01, dec2
        Assert.Equal("| none (the default) | 936 | 8.0 min | 86.40 / 85.00 % | 79.75 % | 85.03 / 85.46 % (384) |", rows[1]);

        // A second call finds every output and runs nothing again.
        var (again, _, againErr) = RunPythonFile(Script, ["--only", "lambd01,dec2", "--runs", runs, "--crate-mae", FakeCli()], "");
        Assert.True(again == 0, againErr);
        Assert.Equal(calls.Length, File.ReadAllLines(Path.Combine(_tmp.Path, "calls.txt")).Count(l => !l.StartsWith("info", StringComparison.Ordinal)));
    }

    [SkippableFact]
    public void Given_an_unknown_setting_When_asked_for_Then_the_script_stops_naming_it_and_the_known_ones()
    {
        Skip.IfNot(File.Exists(PythonPath), $"{PythonPath} not found");

        var (code, _, stderr) = RunPythonFile(Script, ["--only", "mask09", "--table-only"], "");

        Assert.NotEqual(0, code);
        Assert.Contains("--only: unknown setting 'mask09'; known: base, lambd01, eta02, mask05, mask03, dec2, patch7, crop1", stderr);
    }
}
