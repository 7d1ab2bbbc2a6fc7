using System.Reflection;
using System.Runtime.InteropServices;

namespace CrateMae.Training;

/// <summary>
/// Native environment set before libtorch (and with it libgomp, its OpenMP runtime) is loaded, by every program that
/// trains or measures: the <c>crate-mae</c> CLI and the benchmark project, so that a module benchmark or an in-process
/// A/B runs under the same allocator and OpenMP policy as <c>crate-mae bench</c> and <c>pretrain</c>.
/// </summary>
/// <remarks>
/// libgomp's worker threads spin at every barrier (by default up to 300 000 iterations) before they sleep. When
/// another process also wants the cores (a shared 2-core machine, a concurrent build), a spinning thread burns the time
/// slice its partner needs, and a 2-thread training step became 3–8× slower than a 1-thread one (docs/performance.md).
/// <c>OMP_WAIT_POLICY=PASSIVE</c> makes idle workers sleep at once. <see cref="ConfigureOpenMp"/> sets it unless the
/// user set <c>OMP_WAIT_POLICY</c> or <c>GOMP_SPINCOUNT</c> already; a program calls it from a module initializer of its
/// entry assembly, before any torch call: libgomp reads the variables when it is loaded, so this cannot be changed later
/// in the process.
/// On a machine that runs nothing else, spinning pays since our row kernels run on libtorch's own OpenMP team
/// (<c>OpenMpTeam</c>, ninth session): <c>GOMP_SPINCOUNT=300000</c>, libgomp's own default and what PyTorch runs with,
/// made bf16 training steps 6–7 % faster (crate-small at 224 px, the 32-px model), because a region no longer waits for
/// its worker to wake; two such jobs side by side ran 3× slower than under PASSIVE. PASSIVE stays the default; a user's
/// own setting is kept (docs/performance.md §4).
/// </remarks>
public static class ProcessSetup
{
    /// <summary>
    /// Sets <c>OMP_WAIT_POLICY=PASSIVE</c> in the process environment unless an OpenMP wait setting is given (see the
    /// remarks). <paramref name="program"/> is the caller's own assembly: only the program itself changes the
    /// environment, not a host that loads its assembly (a test runner, whose child processes inherit it).
    /// </summary>
    public static void ConfigureOpenMp(Assembly program)
    {
        if (!IsRunningProgram(program)) return;
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

    /// <summary>Where Debian, Ubuntu and Fedora install jemalloc 5 (<c>libjemalloc2</c>, <c>jemalloc</c>).</summary>
    private static readonly string[] JemallocPaths =
    [
        "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2", "/usr/lib/aarch64-linux-gnu/libjemalloc.so.2", "/usr/lib64/libjemalloc.so.2",
    ];

    /// <summary>
    /// jemalloc without decay: freed pages stay mapped, so a step's buffers are reused instead of faulted in again.
    /// <c>oversize_threshold:0</c> keeps blocks of 8 MiB and more in the ordinary arenas: jemalloc 5.3 serves them from a
    /// dedicated arena, and with decay off, training crate-small at 224 px in bf16 with the bf16 decoder stream grew RSS
    /// by 100–150 MB per step without limit while the live tensors stayed constant (its bf16 [96, 197, 197] attention
    /// matrices, 7.1 MiB, fall in jemalloc's 8 MiB size class). With this option it levels off (docs/performance.md §4).
    /// </summary>
    public const string JemallocConf = "dirty_decay_ms:-1,muzzy_decay_ms:-1,oversize_threshold:0";

    /// <summary>
    /// Restarts the process (execv, same arguments) with jemalloc preloaded and <see cref="JemallocConf"/>, when
    /// jemalloc is installed, not already loaded, and the user has not chosen (<c>CRATE_MAE_ALLOCATOR=glibc</c> keeps the
    /// C library's malloc). Call it first in <c>Main</c>: nothing has run yet that a restart could lose.
    /// <paramref name="program"/> is the caller's own assembly: the process restarts only when that is the entry
    /// assembly, so a host that calls the program's <c>Main</c> in-process (a test runner) is never replaced.
    /// </summary>
    /// <remarks>
    /// glibc serves the multi-megabyte activations of a training step with fresh mmap/brk pages and returns them on free,
    /// so every step pays page faults and zeroing; jemalloc without decay keeps them. Measured (docs/performance.md §4):
    /// step time equal within this machine's noise, peak RSS of bf16 training about a third lower.
    /// The allocator must be in place before the first malloc, hence a preload and a restart rather than a setting.
    /// </remarks>
    public static void UseJemalloc(Assembly program)
    {
        if (!IsRunningProgram(program)) return;
        var choice = Environment.GetEnvironmentVariable("CRATE_MAE_ALLOCATOR");
        if (choice is not null && !choice.Equals("jemalloc", StringComparison.OrdinalIgnoreCase)) return;
        var preload = Environment.GetEnvironmentVariable("LD_PRELOAD") ?? "";
        if (preload.Contains("jemalloc", StringComparison.Ordinal)) return;   // already in place (or the user's own)
        var lib = JemallocPaths.FirstOrDefault(File.Exists);
        if (lib is null) return;
        string[] argv;
        try { argv = File.ReadAllText("/proc/self/cmdline").Split('\0', StringSplitOptions.None)[..^1]; }
        catch (IOException) { return; }
        if (argv.Length == 0) return;
        Environment.SetEnvironmentVariable("LD_PRELOAD", preload.Length == 0 ? lib : $"{lib}:{preload}");
        if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable("MALLOC_CONF")))
            Environment.SetEnvironmentVariable("MALLOC_CONF", JemallocConf);
        var env = Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
            .Select(e => $"{e.Key}={e.Value}").Append(null).ToArray();
        execve("/proc/self/exe", [.. argv, null], env);
        // Only reached when execve failed: carry on with the C library's malloc.
        Environment.SetEnvironmentVariable("LD_PRELOAD", preload.Length == 0 ? null : preload);
    }

    /// <summary>The files mapped into this process (<c>/proc/self/maps</c>), each once; null where that cannot be read.</summary>
    internal static IReadOnlyList<string>? MappedFiles()
    {
        try
        {
            return File.ReadLines("/proc/self/maps").Select(l => l.IndexOf('/') is var i and >= 0 ? l[i..] : "")
                .Where(p => p.Length > 0).Distinct().ToList();
        }
        catch (IOException) { return null; }
    }

    /// <summary>On Linux, and <paramref name="program"/> is the entry assembly (not an assembly loaded by another host).</summary>
    private static bool IsRunningProgram(Assembly program)
    {
        ArgumentNullException.ThrowIfNull(program);
        return OperatingSystem.IsLinux() && Assembly.GetEntryAssembly() == program;
    }

    [DllImport("libc.so.6", CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true)]
    private static extern int setenv(string name, string value, int overwrite);

    [DllImport("libc.so.6", CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true, SetLastError = true)]
    private static extern int execve(string path, string?[] argv, string?[] envp);
}
