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
/// slice its partner needs: two 2-thread jobs side by side ran 2.3–3.2× slower than with <c>OMP_WAIT_POLICY=PASSIVE</c>,
/// which makes idle workers sleep at once (docs/performance.md §4). On a machine that runs nothing else, spinning pays:
/// bf16 training steps 5–11 % faster (crate-small at 224 px, the 32-px model), because a parallel region no longer waits
/// for its worker to wake (on this VM a vCPU that halted for a millisecond takes 40–60 µs to wake).
/// So by default (tenth session) the spin count follows the machine: <see cref="ConfigureOpenMp"/> sets
/// <c>GOMP_SPINCOUNT</c> to <see cref="AdaptiveSpin.Marker"/> and starts <see cref="AdaptiveSpin"/>, which switches
/// between spinning and PASSIVE every 100 ms from what the other processes use. <c>CRATE_MAE_OPENMP=passive</c> asks
/// for PASSIVE; a user's own <c>OMP_WAIT_POLICY</c> or <c>GOMP_SPINCOUNT</c> is kept. A program calls it from a module
/// initializer of its entry assembly, before any torch call: libgomp reads the variables when it is loaded.
/// </remarks>
public static class ProcessSetup
{
    /// <summary>
    /// Chooses libgomp's wait policy before libtorch loads (see the remarks): the adaptive spin count by default,
    /// <c>OMP_WAIT_POLICY=PASSIVE</c> with <c>CRATE_MAE_OPENMP=passive</c>, nothing when the user set
    /// <c>OMP_WAIT_POLICY</c> or <c>GOMP_SPINCOUNT</c>. <paramref name="program"/> is the caller's own assembly: only the
    /// program itself changes the environment, not a host that loads its assembly (a test runner, whose child processes
    /// inherit it).
    /// </summary>
    public static void ConfigureOpenMp(Assembly program)
    {
        if (!IsRunningProgram(program)) return;
        var choice = Environment.GetEnvironmentVariable("CRATE_MAE_OPENMP");
        bool passive = choice is not null && choice.Equals("passive", StringComparison.OrdinalIgnoreCase);
        if (choice is not null && !passive && !choice.Equals("adaptive", StringComparison.OrdinalIgnoreCase))
        {
            // A module initializer has no caller to catch an exception: say what is wrong and stop before any work.
            Console.Error.WriteLine($"error: environment variable CRATE_MAE_OPENMP={choice}: expected adaptive (the default) or passive");
            Environment.Exit(2);
        }
        var spinCount = Environment.GetEnvironmentVariable("GOMP_SPINCOUNT");
        var marker = AdaptiveSpin.Marker.ToString(System.Globalization.CultureInfo.InvariantCulture);
        // Our own marker, inherited across the jemalloc restart (UseJemalloc), is not a user's setting.
        bool ours = spinCount == marker;
        if (Environment.GetEnvironmentVariable("OMP_WAIT_POLICY") is not null || (spinCount is not null && !ours)) return;
        try
        {
            if (passive)
            {
                if (ours) SetNativeEnvironment("GOMP_SPINCOUNT", null);
                SetNativeEnvironment("OMP_WAIT_POLICY", "PASSIVE");
                return;
            }
            if (!ours) SetNativeEnvironment("GOMP_SPINCOUNT", marker);
            AdaptiveSpin.Start();
        }
        catch (DllNotFoundException) { }
        catch (EntryPointNotFoundException) { }
    }

    /// <summary>Sets (or with null removes) a variable in the C library's environment, which libgomp reads, and in .NET's.</summary>
    private static void SetNativeEnvironment(string name, string? value)
    {
        if ((value is null ? unsetenv(name) : setenv(name, value, 1)) == 0)
            Environment.SetEnvironmentVariable(name, value);
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

    /// <summary>One line of <c>/proc/self/maps</c>: an address range, its permissions (<c>rw-p</c>) and its file, or "".</summary>
    internal readonly record struct Mapping(ulong Start, ulong End, string Permissions, string Path)
    {
        public bool Writable => Permissions.Length >= 2 && Permissions[0] == 'r' && Permissions[1] == 'w';
    }

    /// <summary>The memory mappings of this process in address order; null where <c>/proc/self/maps</c> cannot be read.</summary>
    internal static IReadOnlyList<Mapping>? Mappings()
    {
        try { return File.ReadLines("/proc/self/maps").Select(ParseMapping).ToList(); }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }

    /// <summary>Parses a <c>/proc/self/maps</c> line (<c>start-end perms offset dev inode [path]</c>).</summary>
    internal static Mapping ParseMapping(string line)
    {
        var fields = line.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries);
        var range = fields[0].Split('-');
        var hex = System.Globalization.NumberStyles.HexNumber;
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        return new Mapping(ulong.Parse(range[0], hex, inv), ulong.Parse(range[1], hex, inv), fields[1],
            line.IndexOf('/') is var i and >= 0 ? line[i..] : "");
    }

    /// <summary>
    /// The files mapped into this process, each once (from <paramref name="maps"/> if already read); null where that
    /// cannot be read.
    /// </summary>
    internal static IReadOnlyList<string>? MappedFiles(IReadOnlyList<Mapping>? maps = null) =>
        (maps ?? Mappings())?.Select(m => m.Path).Where(p => p.Length > 0).Distinct().ToList();

    /// <summary>Whether <paramref name="path"/> is libtorch's CPU library.</summary>
    internal static bool IsLibTorchCpu(string path) => Path.GetFileName(path).StartsWith("libtorch_cpu", StringComparison.Ordinal);

    /// <summary>
    /// The libgomp files mapped into this process (among <paramref name="mappedFiles"/> if already read), the one next to
    /// libtorch first (its name is hashed).
    /// </summary>
    internal static IEnumerable<string> LoadedLibGomp(IReadOnlyList<string>? mappedFiles = null)
    {
        var paths = mappedFiles ?? MappedFiles() ?? [];
        var torchDir = paths.Where(IsLibTorchCpu).Select(Path.GetDirectoryName).FirstOrDefault();
        return paths.Where(p => Path.GetFileName(p).StartsWith("libgomp", StringComparison.Ordinal))
            .OrderBy(p => Path.GetDirectoryName(p) == torchDir ? 0 : 1).ToList();
    }

    /// <summary>On Linux, and <paramref name="program"/> is the entry assembly (not an assembly loaded by another host).</summary>
    private static bool IsRunningProgram(Assembly program)
    {
        ArgumentNullException.ThrowIfNull(program);
        return OperatingSystem.IsLinux() && Assembly.GetEntryAssembly() == program;
    }

    [DllImport("libc.so.6", CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true)]
    private static extern int setenv(string name, string value, int overwrite);

    [DllImport("libc.so.6", CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true)]
    private static extern int unsetenv(string name);

    [DllImport("libc.so.6", CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true, SetLastError = true)]
    private static extern int execve(string path, string?[] argv, string?[] envp);
}
