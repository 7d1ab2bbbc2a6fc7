using System.Runtime.CompilerServices;
using CrateMae.Models;

namespace CrateMae.Hosting;

/// <summary>
/// Start-up of the programs that run libtorch: the <c>crate-mae</c> CLI and the benchmark project, which compiles this
/// same file, so that a module benchmark runs under the settings of <c>crate-mae bench</c> and <c>pretrain</c>.
/// </summary>
/// <remarks>
/// OpenMP: libgomp's worker threads spin at every barrier (by default up to 300,000 iterations) before they sleep. When
/// another process also wants the cores (a shared machine, a concurrent build), a spinning worker burns the time slice
/// that its partner needs: two 2-thread jobs side by side ran 2–3× slower than under <c>OMP_WAIT_POLICY=PASSIVE</c>,
/// which makes idle workers sleep at once. So unless the user set <c>OMP_WAIT_POLICY</c> or <c>GOMP_SPINCOUNT</c>,
/// the program sets <c>OMP_WAIT_POLICY=PASSIVE</c> before libtorch (and with it libgomp, which reads the variable when it
/// loads) is loaded. On a machine that runs nothing else, <c>OMP_WAIT_POLICY=ACTIVE</c> lets the workers spin and start
/// each parallel region sooner.
/// </remarks>
internal static class ProcessStart
{
    /// <summary>Runs as this assembly loads, before any torch call: the OpenMP wait policy (see the remarks).</summary>
    [ModuleInitializer]
    internal static void ChooseOpenMpWaitPolicy()
    {
        if (!ProcessSetup.IsRunningProgram(typeof(ProcessStart).Assembly)) return;
        if (Environment.GetEnvironmentVariable("OMP_WAIT_POLICY") is null && Environment.GetEnvironmentVariable("GOMP_SPINCOUNT") is null)
            ProcessSetup.SetNativeEnvironment("OMP_WAIT_POLICY", "PASSIVE");
    }

    /// <summary>
    /// The first call in <c>Main</c>: restarts under jemalloc when <c>CRATE_MAE_ALLOCATOR=jemalloc</c> asks for it
    /// (<see cref="ProcessSetup.UseJemalloc"/>), then warns in one line on stderr when <paramref name="args"/> ask for
    /// bf16 products on a CPU without bf16 instructions. Returns the exit code when the program must stop (an invalid
    /// setting, reported in one line), else null.
    /// </summary>
    internal static int? Begin(string[] args)
    {
        try { ProcessSetup.UseJemalloc(typeof(ProcessStart).Assembly); }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 2;
        }
        if (MatmulPrecision.SlowBf16Warning(OptionValue(args, "--precision"), OptionValue(args, "--device") ?? "cpu",
                MatmulPrecision.CpuHasNativeBf16) is { } warning)
            Console.Error.WriteLine(warning);
        return null;
    }

    /// <summary>The value of <paramref name="option"/> in <paramref name="args"/> (<c>--name value</c> or <c>--name=value</c>, the last one given), or null.</summary>
    internal static string? OptionValue(string[] args, string option)
    {
        string? value = null;
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == option && i + 1 < args.Length) value = args[i + 1];
            else if (args[i].StartsWith(option + "=", StringComparison.Ordinal)) value = args[i][(option.Length + 1)..];
        }
        return value;
    }
}
