using System.Text.Json;
using CrateMae.Tests.Support;
using Xunit.Abstractions;
using static CrateMae.Tests.Interop.InteropTestSupport;

namespace CrateMae.Tests.Bench;

/// <summary>
/// The speed baseline, <c>python/crate_mae_official.py</c>, is the official CRATE-MAE computation in
/// PyTorch: checked here against the golden fixtures the official code produced, so the "× official" figures compare
/// against the real thing. Needs /usr/bin/python3 with torch (installed by scripts/setup.sh); without it the tests
/// skip and say why.
/// </summary>
[Collection(Interop.InteropCollection.Name)]
public sealed class OfficialBaselineTests(ITestOutputHelper output)
{
    private static string ScriptPath => Path.Combine(Fixtures.RepoRoot, "python", "crate_mae_official.py");
    private static string Script => File.ReadAllText(ScriptPath);

    private static void SkipWithoutTorch() =>
        Skip.If(TorchUnavailableReason is not null, $"{TorchUnavailableReason}; install python3-torch to run this check");

    [SkippableFact]
    public void Given_the_baseline_script_When_checked_against_every_crate_fixture_Then_loss_pred_and_latent_match()
    {
        SkipWithoutTorch();
        var stdout = RunPythonChecked(Script, "--check", Fixtures.Root);
        output.WriteLine(stdout);
        var crateCases = Fixtures.Cases().Where(c => c.Config.Kind == CrateMae.Models.BlockKind.Crate).Select(c => c.Name).ToList();
        Assert.NotEmpty(crateCases);
        foreach (var name in crateCases) Assert.Contains($"{name}: loss, pred and latent equal the official fixtures", stdout);
    }

    [SkippableFact]
    public void Given_a_tiny_config_When_the_baseline_benchmarks_Then_it_reports_train_and_embed_throughput()
    {
        SkipWithoutTorch();
        var stdout = RunPythonChecked(Script, "--config", CliRunner.TinyConfig, "--batch", "2", "--steps", "2", "--warmup", "1", "--threads", "1");
        using var doc = JsonDocument.Parse(stdout);
        var root = doc.RootElement;
        Assert.Equal("crate-mae/official-baseline/1", root.GetProperty("schema").GetString());
        foreach (var phase in new[] { "train", "embed" })
        {
            var p = root.GetProperty(phase);
            Assert.Equal(2, p.GetProperty("step_seconds").GetArrayLength());
            Assert.True(p.GetProperty("median_img_per_s").GetDouble() > 0);
        }
    }

    [SkippableFact]
    public void Given_lockstep_When_the_baseline_gets_one_go_per_step_Then_it_announces_each_step_and_reports_its_time()
    {
        SkipWithoutTorch();
        // One 'go' per step: 2 phases × (1 warm-up + 2 timed).
        var (code, stdout, stderr) = RunPythonFile(ScriptPath,
            ["--config", CliRunner.TinyConfig, "--batch", "1", "--steps", "2", "--warmup", "1", "--threads", "1", "--lockstep"],
            string.Concat(Enumerable.Repeat("go\n", 6)));
        Assert.True(code == 0, stderr);
        var lines = stderr.Split('\n').Where(l => l.StartsWith("lockstep: ")).ToList();
        var expected = new List<string>();
        foreach (var phase in new[] { "train", "embed" })
            foreach (var kind in new[] { "warmup", "timed", "timed" })
                expected.AddRange([$"lockstep: ready {phase} {kind}", $"lockstep: done {phase}"]);
        Assert.Equal(expected, lines.Select(l => l.StartsWith("lockstep: done") ? string.Join(' ', l.Split(' ')[..3]) : l));
        using var doc = JsonDocument.Parse(stdout);
        Assert.Equal(2, doc.RootElement.GetProperty("train").GetProperty("step_seconds").GetArrayLength());
    }

    [SkippableFact]
    public void Given_lockstep_When_the_input_ends_early_Then_the_baseline_stops_naming_the_option()
    {
        SkipWithoutTorch();
        var (code, _, stderr) = RunPythonFile(ScriptPath,
            ["--config", CliRunner.TinyConfig, "--batch", "1", "--steps", "2", "--warmup", "1", "--threads", "1", "--lockstep"], "go\n");
        Assert.NotEqual(0, code);
        Assert.Contains("--lockstep: the input ended while the next train step waited for 'go'", stderr);
    }

    [SkippableFact]
    public void Given_paired_mode_When_the_driver_alternates_crate_mae_and_the_baseline_Then_every_round_has_a_ratio_per_precision()
    {
        SkipWithoutTorch();
        using var dir = NewTempFolder();
        var json = Path.Combine(dir.Path, "paired.json");
        var (code, stdout, stderr) = RunPythonFile(Path.Combine(Fixtures.RepoRoot, "bench", "vs_official.py"),
            ["--paired", "--model", CliRunner.TinyConfig, "--batch", "2", "--steps", "3", "--warmup", "1", "--threads", "1", "--gap", "0",
             "--precisions", "fp32,bf16", "--crate-mae", $"dotnet {CliRunner.Dll}", "--also", $"second=dotnet {CliRunner.Dll}", "--json", json],
            "", TimeSpan.FromMinutes(5));
        Assert.True(code == 0, stderr + stdout);
        Assert.Contains("second:bf16", stdout);
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        Assert.Equal("paired", doc.RootElement.GetProperty("mode").GetString());
        foreach (var phase in new[] { "train", "embed" })
        {
            var row = doc.RootElement.GetProperty("summary").GetProperty(phase);
            Assert.Equal(3, row.GetProperty("rounds").GetInt32());
            foreach (var precision in new[] { "fp32", "bf16", "second:fp32", "second:bf16" })   // --also: a second build, same rounds
            {
                var p = row.GetProperty(precision);
                Assert.Equal(3, p.GetProperty("speedups").GetArrayLength());
                var official = row.GetProperty("official").GetProperty("step_seconds").EnumerateArray().Select(x => x.GetDouble()).ToArray();
                var ours = p.GetProperty("step_seconds").EnumerateArray().Select(x => x.GetDouble()).ToArray();
                var ratios = p.GetProperty("speedups").EnumerateArray().Select(x => x.GetDouble()).ToArray();
                for (int i = 0; i < 3; i++) Assert.Equal(official[i] / ours[i], ratios[i], 9);
                Assert.InRange(p.GetProperty("speedup_median").GetDouble(), p.GetProperty("speedup_q1").GetDouble(), p.GetProperty("speedup_q3").GetDouble());
            }
        }
        var runs = doc.RootElement.GetProperty("runs");
        Assert.Equal(3, runs.GetProperty("bf16").GetProperty("train").GetProperty("steps").GetInt32());
        Assert.Equal("bf16", runs.GetProperty("bf16").GetProperty("precision").GetString());
    }

    [SkippableTheory]
    [InlineData("fpu avx2 fma", "fp32")]
    [InlineData("avx2 avx512f avx512bw", "fp32")]
    [InlineData("avx512f avx512_bf16", "fp32,bf16")]
    [InlineData("avx512f amx_bf16 amx_tile", "fp32,bf16")]
    public void Given_a_cpus_flags_When_the_driver_chooses_its_default_precisions_Then_bf16_is_measured_only_with_bf16_instructions(
        string flags, string expected)
    {
        Skip.IfNot(File.Exists(PythonPath), $"{PythonPath} not found");
        var script = $"import sys; sys.path.insert(0, {Quoted(Path.Combine(Fixtures.RepoRoot, "bench"))}); import vs_official; " +
                     $"print(vs_official.default_precisions({Quoted(flags)}.split()))";
        var (code, stdout, stderr) = RunPython(script, []);
        Assert.True(code == 0, stderr);
        Assert.Equal(expected, stdout.Trim());
    }

    private static string Quoted(string s) => "'" + s.Replace("\\", "\\\\").Replace("'", "\\'") + "'";

    [SkippableFact]
    public void Given_also_without_a_name_When_the_driver_starts_Then_it_stops_naming_the_option()
    {
        SkipWithoutTorch();
        var (code, _, stderr) = RunPythonFile(Path.Combine(Fixtures.RepoRoot, "bench", "vs_official.py"),
            ["--paired", "--model", CliRunner.TinyConfig, "--crate-mae", $"dotnet {CliRunner.Dll}", "--also", $"dotnet {CliRunner.Dll}"], "");
        Assert.NotEqual(0, code);
        Assert.Contains("--also dotnet", stderr);
        Assert.Contains("expected NAME=CRATE_MAE", stderr);
    }

    [SkippableFact]
    public void Given_a_vit_config_When_the_baseline_is_asked_Then_it_refuses_naming_the_option()
    {
        SkipWithoutTorch();
        var (code, _, err) = RunPython(Script, ["--config", """{"kind":"vit","img_size":16,"patch_size":4,"in_chans":3,"embed_dim":32,"depth":1,"num_heads":2,"decoder_embed_dim":32,"decoder_depth":1,"decoder_num_heads":2}"""]);
        Assert.NotEqual(0, code);
        Assert.Contains("--config: the baseline implements CRATE blocks", err);
    }
}
