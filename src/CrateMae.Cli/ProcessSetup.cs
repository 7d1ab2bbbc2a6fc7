using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace CrateMae.Cli;

/// <summary>
/// Native environment set before libtorch (and with it libgomp, its OpenMP runtime) is loaded.
/// </summary>
/// <remarks>
/// libgomp's worker threads spin at every barrier (by default up to 300 000 iterations) before they sleep. When
/// another process also wants the cores (a shared 2-core machine, a concurrent build), a spinning thread burns the time
/// slice its partner needs, and a 2-thread training step became 3–8× slower than a 1-thread one (docs/performance.md).
/// <c>OMP_WAIT_POLICY=PASSIVE</c> makes idle workers sleep at once. It is set here, once, as the entry assembly loads
/// (before any torch call), unless the user set <c>OMP_WAIT_POLICY</c> or <c>GOMP_SPINCOUNT</c> already. libgomp
/// reads the variables when it is loaded, so this cannot be changed later in the process.
/// </remarks>
internal static class ProcessSetup
{
    [ModuleInitializer]
    internal static void ConfigureOpenMp()
    {
        if (!OperatingSystem.IsLinux()) return;
        if (Environment.GetEnvironmentVariable("OMP_WAIT_POLICY") is not null ||
            Environment.GetEnvironmentVariable("GOMP_SPINCOUNT") is not null) return;
        try
        {
            if (setenv("OMP_WAIT_POLICY", "PASSIVE", 0) == 0)
                Environment.SetEnvironmentVariable("OMP_WAIT_POLICY", "PASSIVE");
        }
        catch (DllNotFoundException) { }
        catch (EntryPointNotFoundException) { }
    }

    [DllImport("libc.so.6", CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true)]
    private static extern int setenv(string name, string value, int overwrite);
}
