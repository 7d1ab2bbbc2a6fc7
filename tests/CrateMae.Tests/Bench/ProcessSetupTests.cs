using System.Text.Json;
using CrateMae.Hosting;
using CrateMae.Models;
using CrateMae.Tests.Support;

namespace CrateMae.Tests.Bench;

/// <summary>
/// The start-up of the crate-mae CLI and the benchmark project (<c>ProcessStart</c>, <see cref="ProcessSetup"/>): the
/// OpenMP wait policy set before libtorch loads, the opt-in jemalloc restart, the one-line bf16 warning.
/// </summary>
public sealed class ProcessSetupTests
{
    private const string Jemalloc = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2";

    /// <summary>The variables that choose the allocator and the OpenMP wait policy, unset (a user who set none).</summary>
    private static Dictionary<string, string?> Unset() => new()
    {
        ["LD_PRELOAD"] = null, ["MALLOC_CONF"] = null, [ProcessSetup.AllocatorVariable] = null,
        ["OMP_WAIT_POLICY"] = null, ["GOMP_SPINCOUNT"] = null,
    };

    [Fact]
    public void Given_an_assembly_that_is_not_the_entry_assembly_When_set_up_Then_the_process_is_neither_restarted_nor_its_environment_changed()
    {
        // The test host is the entry assembly here: a restart would replace the running test process, and its child
        // processes (crate-mae runs in other tests) inherit its environment.
        string[] names = ["LD_PRELOAD", "MALLOC_CONF", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT"];
        var before = names.Select(Environment.GetEnvironmentVariable).ToArray();

        Assert.False(ProcessSetup.IsRunningProgram(typeof(ProcessSetupTests).Assembly));
        ProcessSetup.UseJemalloc(typeof(ProcessSetupTests).Assembly);

        Assert.Equal(before, names.Select(Environment.GetEnvironmentVariable).ToArray());
    }

    [Theory]
    [InlineData(null, false)]
    [InlineData("", false)]
    [InlineData("glibc", false)]
    [InlineData("jemalloc", true)]
    [InlineData("JEMALLOC", true)]
    public void Given_an_allocator_setting_When_read_Then_only_jemalloc_asks_for_the_restart(string? value, bool expected) =>
        Assert.Equal(expected, ProcessSetup.JemallocRequested(value));

    [Fact]
    public void Given_an_unknown_allocator_When_the_cli_starts_Then_it_stops_with_one_line_naming_the_variable()
    {
        var r = CliRunner.Run(TimeSpan.FromMinutes(2), new Dictionary<string, string?> { [ProcessSetup.AllocatorVariable] = "tcmalloc" }, "bench", "--help");

        Assert.Equal(2, r.ExitCode);
        Assert.Equal("error: environment variable CRATE_MAE_ALLOCATOR=tcmalloc: expected glibc (the default) or jemalloc", r.Stderr.Trim());
    }

    [Fact]
    public void Given_no_allocator_setting_When_the_cli_and_the_benchmark_project_start_Then_they_keep_the_c_librarys_malloc()
    {
        Assert.Equal("glibc", CliHost("allocator", Unset()));

        var r = BenchAb(Unset());
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        Assert.Contains("host: allocator glibc, OpenMP ", r.Stdout);
        Assert.Contains("OMP_WAIT_POLICY=PASSIVE", r.Stdout);
    }

    [SkippableFact]
    public void Given_jemalloc_asked_for_When_the_cli_and_the_benchmark_project_start_Then_they_run_under_jemalloc_without_decay()
    {
        Skip.IfNot(File.Exists(Jemalloc), "libjemalloc2 is not installed (scripts/setup.sh installs it)");
        var jemalloc = new Dictionary<string, string?>(Unset()) { [ProcessSetup.AllocatorVariable] = "jemalloc" };

        Assert.Equal($"jemalloc ({ProcessSetup.JemallocConf})", CliHost("allocator", jemalloc));

        var r = BenchAb(jemalloc);
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        Assert.Contains($"host: allocator jemalloc ({ProcessSetup.JemallocConf}), OpenMP ", r.Stdout);
    }

    [SkippableFact]
    public void Given_jemalloc_asked_for_but_not_installed_When_the_cli_starts_Then_it_stops_naming_the_variable()
    {
        Skip.If(File.Exists(Jemalloc), "libjemalloc2 is installed here; the message for a missing one cannot be provoked");
        var r = CliRunner.Run(TimeSpan.FromMinutes(2), new Dictionary<string, string?>(Unset()) { [ProcessSetup.AllocatorVariable] = "jemalloc" },
            "bench", "--help");

        Assert.Equal(2, r.ExitCode);
        Assert.StartsWith("error: environment variable CRATE_MAE_ALLOCATOR=jemalloc: libjemalloc.so.2 not found", r.Stderr.Trim());
    }

    [Fact]
    public void Given_no_OpenMP_wait_setting_When_the_cli_starts_Then_workers_sleep_passively_and_a_users_own_setting_is_kept()
    {
        Assert.Contains("OMP_WAIT_POLICY=PASSIVE", CliHost("open_mp", Unset()));

        var spinCount = CliHost("open_mp", new Dictionary<string, string?>(Unset()) { ["GOMP_SPINCOUNT"] = "1000" });
        Assert.Contains("GOMP_SPINCOUNT=1000", spinCount);
        Assert.DoesNotContain("OMP_WAIT_POLICY", spinCount);

        var active = CliHost("open_mp", new Dictionary<string, string?>(Unset()) { ["OMP_WAIT_POLICY"] = "ACTIVE" });
        Assert.Contains("OMP_WAIT_POLICY=ACTIVE", active);
        Assert.DoesNotContain("PASSIVE", active);
    }

    [Theory]
    [InlineData("bf16", "cpu", false, true)]
    [InlineData("BF16", "cpu", false, true)]
    [InlineData("bfloat16", "cpu:0", false, true)]
    [InlineData("bf16", "cpu", true, false)]      // AMX-BF16 or AVX512-BF16: bf16 pays
    [InlineData("bf16", "cuda", false, false)]    // not the CPU's products
    [InlineData("auto", "cpu", false, false)]     // auto chooses fp32 there
    [InlineData("fp32", "cpu", false, false)]
    [InlineData(null, "cpu", false, false)]
    public void Given_a_precision_and_the_cpus_bf16_instructions_When_checked_Then_only_explicit_bf16_without_them_warns(
        string? precision, string device, bool cpuHasNativeBf16, bool warns)
    {
        var warning = MatmulPrecision.SlowBf16Warning(precision, device, cpuHasNativeBf16);

        Assert.Equal(warns, warning is not null);
        if (warning is not null)
            Assert.Equal($"warning: --precision {precision}: this CPU has no bf16 instructions (AMX-BF16 or AVX512-BF16), so bf16 matrix products run far slower than fp32 here; --precision auto chooses fp32",
                warning);
        // --precision auto agrees: bf16 exactly where the CPU has the instructions.
        Assert.Equal(device.StartsWith("cpu", StringComparison.Ordinal) && cpuHasNativeBf16 ? "bf16" : "fp32",
            MatmulPrecision.Resolve("auto", device, cpuHasNativeBf16));
    }

    [Theory]
    [InlineData(new[] { "bench", "--precision", "bf16", "--help" }, true)]
    [InlineData(new[] { "bench", "--precision=bf16", "--help" }, true)]
    [InlineData(new[] { "bench", "--precision", "fp32", "--help" }, false)]
    [InlineData(new[] { "bench", "--precision", "bf16", "--device", "cuda", "--help" }, false)]
    public void Given_explicit_bf16_When_the_cli_starts_Then_one_warning_line_appears_exactly_on_a_cpu_without_bf16_instructions(string[] args, bool bf16OnCpu)
    {
        var r = CliRunner.Run(TimeSpan.FromMinutes(2), args);

        Assert.True(r.ExitCode == 0, r.Stderr);
        var warnings = r.Stderr.Split('\n').Count(l => l.StartsWith("warning: --precision", StringComparison.Ordinal));
        Assert.Equal(bf16OnCpu && !MatmulPrecision.CpuHasNativeBf16 ? 1 : 0, warnings);
    }

    /// <summary>One training pair of the bench program's <c>ab</c> on the tiny config, under the given environment.</summary>
    private static CliRunner.Result BenchAb(Dictionary<string, string?> environment) =>
        CliRunner.RunProgram(CliRunner.BenchDll, TimeSpan.FromMinutes(3), environment,
            "ab", "--variant", "simd", "--model", CliRunner.TinyConfig, "--batch", "2", "--pairs", "1", "--warmup", "0", "--threads", "1",
            "--precision", "fp32", "--phase", "train");

    /// <summary>A <c>host</c> setting ("allocator", "open_mp", "kernel_threads") that <c>crate-mae bench --json</c> reports under the given environment.</summary>
    private static string CliHost(string property, Dictionary<string, string?> environment)
    {
        var r = CliRunner.Run(TimeSpan.FromMinutes(2), environment,
            "bench", "--model", CliRunner.TinyConfig, "--batch", "2", "--steps", "1", "--warmup", "0", "--peak-size", "0", "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        using var doc = JsonDocument.Parse(r.Stdout);
        return doc.RootElement.GetProperty("host").GetProperty(property).GetString()!;
    }

    [Fact]
    public void Given_libtorchs_libgomp_When_the_cli_runs_Then_the_row_kernels_use_its_OpenMP_team_unless_the_dotnet_pool_is_asked_for()
    {
        Assert.Equal("openmp", CliHost("kernel_threads", new() { ["CRATE_MAE_KERNEL_THREADS"] = null }));
        Assert.Equal(".NET thread pool (disabled by CRATE_MAE_KERNEL_THREADS=dotnet)",
            CliHost("kernel_threads", new() { ["CRATE_MAE_KERNEL_THREADS"] = "dotnet" }));
    }
}
