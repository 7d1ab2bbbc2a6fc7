using System.Diagnostics;

namespace CrateMae.Tests.Support;

/// <summary>
/// Runs the real <c>crate-mae</c> program (built next to the tests) as a child process; <see cref="RunProgram"/> runs
/// another program built next to the tests, such as the benchmark project.
/// </summary>
public static class CliRunner
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    public static string Dll => Path.Combine(AppContext.BaseDirectory, "crate-mae.dll");

    /// <summary>A one-block CRATE-MAE config (16 px, patch 4, width 32) for <c>--model</c>/<c>--config</c> in quick runs.</summary>
    public const string TinyConfig =
        """{"name":"t","kind":"crate","img_size":16,"patch_size":4,"in_chans":3,"embed_dim":32,"depth":1,"num_heads":2,"decoder_embed_dim":32,"decoder_depth":1,"decoder_num_heads":2}""";

    /// <summary>The benchmark project (<c>bench/CrateMae.Bench</c>: BenchmarkDotNet module benchmarks and <c>ab</c>).</summary>
    public static string BenchDll => Path.Combine(AppContext.BaseDirectory, "CrateMae.Bench.dll");

    public static Result Run(params string[] args) => Run(TimeSpan.FromMinutes(3), args);

    public static Result Run(TimeSpan timeout, params string[] args) => Run(timeout, new Dictionary<string, string?>(), args);

    /// <summary>Runs with extra environment variables (a null value removes the variable).</summary>
    public static Result Run(TimeSpan timeout, IReadOnlyDictionary<string, string?> environment, params string[] args) =>
        RunProgram(Dll, timeout, environment, args);

    /// <summary>Runs the program <paramref name="dll"/> with <c>dotnet</c>, as <see cref="Run(TimeSpan, IReadOnlyDictionary{string, string?}, string[])"/> runs crate-mae.</summary>
    public static Result RunProgram(string dll, TimeSpan timeout, IReadOnlyDictionary<string, string?> environment, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var (k, v) in environment) psi.Environment[k] = v;
        psi.ArgumentList.Add(dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["OMP_NUM_THREADS"] = "1";
        psi.Environment["NO_COLOR"] = "1";
        psi.Environment["COLUMNS"] = "200";
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{Path.GetFileNameWithoutExtension(dll)} {string.Join(' ', args)} did not finish in {timeout}");
        }
        return new Result(p.ExitCode, stdout.Result, stderr.Result);
    }
}
