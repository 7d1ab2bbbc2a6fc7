using System.Text.RegularExpressions;
using CrateMae.Tests.Support;
using static CrateMae.Tests.Interop.InteropTestSupport;

namespace CrateMae.Tests.Bench;

/// <summary>
/// <c>bench/ab_env.py</c>: two <c>crate-mae bench --lockstep</c> processes that differ in environment variables or build,
/// one step of each per round. Needs only /usr/bin/python3 (no torch).
/// </summary>
public sealed class AbEnvScriptTests
{
    private static string Script => Path.Combine(Fixtures.RepoRoot, "bench", "ab_env.py");

    [SkippableFact]
    public void Given_two_environments_When_the_steps_are_alternated_Then_each_phase_reports_a_ratio_over_every_round()
    {
        Skip.IfNot(File.Exists(PythonPath), $"{PythonPath} not found");
        var (code, stdout, stderr) = RunPythonFile(Script,
            ["--b", "GOMP_SPINCOUNT=1000", "--model", CliRunner.TinyConfig, "--batch", "2", "--steps", "3", "--warmup", "1",
             "--threads", "1", "--precision", "fp32", "--gap", "0", "--crate-mae", $"dotnet {CliRunner.Dll}"], "", TimeSpan.FromMinutes(5));
        Assert.True(code == 0, stderr + stdout);
        Assert.Contains("B: GOMP_SPINCOUNT=1000", stdout);
        foreach (var phase in new[] { "train", "embed" })
            Assert.Matches(new Regex($@"^{phase}: A [\d.]+ img/s, B [\d.]+ img/s; time A / time B median [\d.]+ \[quartiles [\d.]+, [\d.]+\] over 3 rounds",
                RegexOptions.Multiline), stdout);
    }

    [SkippableFact]
    public void Given_a_second_build_for_side_B_When_the_steps_are_alternated_Then_side_B_runs_that_build()
    {
        Skip.IfNot(File.Exists(PythonPath), $"{PythonPath} not found");
        var (code, stdout, stderr) = RunPythonFile(Script,
            ["--b-crate-mae", $"dotnet {CliRunner.Dll}", "--model", CliRunner.TinyConfig, "--batch", "2", "--steps", "2", "--warmup", "1",
             "--threads", "1", "--precision", "fp32", "--only", "train", "--gap", "0", "--crate-mae", $"dotnet {CliRunner.Dll}"], "", TimeSpan.FromMinutes(5));
        Assert.True(code == 0, stderr + stdout);
        Assert.Contains($"B: (CLI defaults), build dotnet {CliRunner.Dll}", stdout);
        Assert.Matches(new Regex(@"^train: A [\d.]+ img/s, B [\d.]+ img/s; time A / time B median [\d.]+ \[quartiles [\d.]+, [\d.]+\] over 2 rounds",
            RegexOptions.Multiline), stdout);
        Assert.DoesNotMatch(new Regex("^embed:", RegexOptions.Multiline), stdout);
    }

    [SkippableFact]
    public void Given_a_second_build_that_does_not_exist_When_started_Then_it_stops_naming_the_option()
    {
        Skip.IfNot(File.Exists(PythonPath), $"{PythonPath} not found");
        var (code, _, stderr) = RunPythonFile(Script,
            ["--b-crate-mae", "/no/such/crate-mae.dll", "--model", CliRunner.TinyConfig, "--crate-mae", $"dotnet {CliRunner.Dll}"], "");
        Assert.NotEqual(0, code);
        Assert.Contains("--b-crate-mae /no/such/crate-mae.dll: not found", stderr);
    }

    [SkippableFact]
    public void Given_a_setting_without_a_value_When_started_Then_it_stops_naming_the_option()
    {
        Skip.IfNot(File.Exists(PythonPath), $"{PythonPath} not found");
        var (code, _, stderr) = RunPythonFile(Script, ["--a", "GOMP_SPINCOUNT", "--model", CliRunner.TinyConfig, "--crate-mae", $"dotnet {CliRunner.Dll}"], "");
        Assert.NotEqual(0, code);
        Assert.Contains("--a GOMP_SPINCOUNT: expected NAME=VALUE", stderr);
    }
}
