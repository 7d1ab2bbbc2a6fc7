using System.Reflection;
using System.Runtime.InteropServices;

namespace CrateMae.Hosting;

/// <summary>
/// Native process settings for the programs that host the library (the <c>crate-mae</c> CLI and the benchmark
/// project): the C library's environment, which libgomp (libtorch's OpenMP runtime) reads when it loads, and the
/// optional restart under jemalloc. Each program decides what to set in its start-up code and reports errors from its
/// <c>Main</c>; nothing here changes a process that merely loads the library (a test runner).
/// </summary>
public static class ProcessSetup
{
    /// <summary>The environment variable that chooses the allocator: <c>glibc</c> (the default) or <c>jemalloc</c>.</summary>
    public const string AllocatorVariable = "CRATE_MAE_ALLOCATOR";

    /// <summary>
    /// Whether <paramref name="program"/> is the running program on Linux: the entry assembly, not an assembly that
    /// another host (a test runner, whose child processes inherit its environment) has loaded.
    /// </summary>
    public static bool IsRunningProgram(Assembly program)
    {
        ArgumentNullException.ThrowIfNull(program);
        return OperatingSystem.IsLinux() && Assembly.GetEntryAssembly() == program;
    }

    /// <summary>
    /// Sets <paramref name="name"/> in the C library's environment, which native code (libgomp) reads, and in .NET's.
    /// Call it before libtorch loads for a setting libgomp reads at load time.
    /// </summary>
    public static void SetNativeEnvironment(string name, string value)
    {
        if (setenv(name, value, 1) == 0) Environment.SetEnvironmentVariable(name, value);
    }

    /// <summary>Where Debian, Ubuntu and Fedora install jemalloc 5 (<c>libjemalloc2</c>, <c>jemalloc</c>).</summary>
    private static readonly string[] JemallocPaths =
    [
        "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2", "/usr/lib/aarch64-linux-gnu/libjemalloc.so.2", "/usr/lib64/libjemalloc.so.2",
    ];

    /// <summary>
    /// jemalloc without decay: freed pages stay mapped, so a step's buffers are reused instead of faulted in again.
    /// <c>oversize_threshold:0</c> keeps blocks of 8 MiB and more in the ordinary arenas: jemalloc 5.3 serves them from
    /// a dedicated arena, and with decay off, bf16 training of crate-small at 224 px grew its resident set by
    /// 100–150 MB per step without limit (its bf16 [96, 197, 197] attention matrices, 7.1 MiB, fall in jemalloc's 8 MiB
    /// size class). With this option it levels off.
    /// </summary>
    public const string JemallocConf = "dirty_decay_ms:-1,muzzy_decay_ms:-1,oversize_threshold:0";

    /// <summary>
    /// Whether <see cref="AllocatorVariable"/> asks for jemalloc: false when unset or <c>glibc</c>, true for
    /// <c>jemalloc</c> (either case); any other value throws an <see cref="ArgumentException"/> naming the variable.
    /// </summary>
    public static bool JemallocRequested(string? value) => value?.ToLowerInvariant() switch
    {
        null or "" or "glibc" => false,
        "jemalloc" => true,
        _ => throw new ArgumentException($"environment variable {AllocatorVariable}={value}: expected glibc (the default) or jemalloc"),
    };

    /// <summary>
    /// With <c>CRATE_MAE_ALLOCATOR=jemalloc</c>, restarts the process (execve, same arguments) with jemalloc preloaded
    /// and <see cref="JemallocConf"/> as <c>MALLOC_CONF</c> unless one is set; otherwise the C library's malloc stays.
    /// Call it first in <c>Main</c>: nothing has run yet that a restart could lose. Only the running program restarts
    /// (<see cref="IsRunningProgram"/>), never a host that calls its <c>Main</c> in-process.
    /// </summary>
    /// <exception cref="ArgumentException">The variable has another value, or jemalloc is asked for but not installed.</exception>
    /// <remarks>
    /// glibc serves the multi-megabyte activations of a training step with fresh pages and returns them on free, so
    /// every step pays page faults and zeroing; jemalloc without decay keeps them. Step times are about equal; bf16
    /// training's peak resident set is about a third lower under jemalloc. The allocator must be in place before the
    /// first malloc, hence a preload and a restart rather than a setting.
    /// </remarks>
    public static void UseJemalloc(Assembly program)
    {
        if (!IsRunningProgram(program)) return;
        var choice = Environment.GetEnvironmentVariable(AllocatorVariable);
        if (!JemallocRequested(choice)) return;
        var preload = Environment.GetEnvironmentVariable("LD_PRELOAD") ?? "";
        if (preload.Contains("jemalloc", StringComparison.Ordinal)) return;   // already in place (after the restart, or the user's own)
        var lib = JemallocPaths.FirstOrDefault(File.Exists)
            ?? throw new ArgumentException(
                $"environment variable {AllocatorVariable}={choice}: libjemalloc.so.2 not found in {string.Join(", ", JemallocPaths)} (install libjemalloc2, or unset the variable)");
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

    [DllImport("libc.so.6", CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true)]
    private static extern int setenv(string name, string value, int overwrite);

    [DllImport("libc.so.6", CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true, SetLastError = true)]
    private static extern int execve(string path, string?[] argv, string?[] envp);
}
