using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;

namespace CrateMae.Kernels;

/// <summary>
/// Runs the parts of a C# row kernel on libtorch's own OpenMP team (libgomp's <c>GOMP_parallel</c>, what
/// <c>#pragma omp parallel</c> compiles to), so that our kernels and libtorch's ops share the same worker threads.
/// </summary>
/// <remarks>
/// With the .NET thread pool, a training step on two cores had three threads taking turns on them: the main thread,
/// libtorch's OpenMP worker and a pool worker for our kernels' second half. Each had to be woken from sleep for its
/// share, and an OpenMP worker left spinning between libtorch's parallel regions took the core the pool worker needed.
/// On the OpenMP team, our kernels run where libtorch's element-wise ops and GEMMs run.
/// Found through <c>/proc/self/maps</c> (the libgomp that libtorch loaded, whatever its hashed name); where there is
/// none (other platforms, another OpenMP runtime) or <c>CRATE_MAE_KERNEL_THREADS=dotnet</c>, callers use
/// <see cref="Parallel.For(int, int, Action{int})"/>.
/// </remarks>
internal static unsafe class OpenMpTeam
{
    private static readonly delegate* unmanaged<delegate* unmanaged<IntPtr, void>, IntPtr, uint, uint, void> GompParallel;
    private static readonly delegate* unmanaged<int> ThreadNum;
    private static readonly delegate* unmanaged<int> NumThreads;

    /// <summary>Whether <see cref="Run"/> can be used in this process.</summary>
    public static bool Available { get; }

    /// <summary>Where libgomp was found, or why not (for diagnostics).</summary>
    public static string Origin { get; }

    static OpenMpTeam()
    {
        Origin = "not found";
        if (Environment.GetEnvironmentVariable("CRATE_MAE_KERNEL_THREADS") == "dotnet") { Origin = "disabled by CRATE_MAE_KERNEL_THREADS=dotnet"; return; }
        if (!OperatingSystem.IsLinux()) { Origin = "not Linux"; return; }
        try { TorchSharp.torch.InitializeDeviceType(TorchSharp.DeviceType.CPU); }   // libtorch (and its libgomp) loaded
        catch (Exception e) when (e is DllNotFoundException or NotSupportedException or InvalidOperationException)
        {
            Origin = $"libtorch not loaded: {e.Message}";
            return;
        }
        foreach (var path in LoadedLibGomp(MappedFiles()))
        {
            if (!NativeLibrary.TryLoad(path, out var lib)) continue;
            if (NativeLibrary.TryGetExport(lib, "GOMP_parallel", out var parallel)
                && NativeLibrary.TryGetExport(lib, "omp_get_thread_num", out var threadNum)
                && NativeLibrary.TryGetExport(lib, "omp_get_num_threads", out var numThreads))
            {
                GompParallel = (delegate* unmanaged<delegate* unmanaged<IntPtr, void>, IntPtr, uint, uint, void>)parallel;
                ThreadNum = (delegate* unmanaged<int>)threadNum;
                NumThreads = (delegate* unmanaged<int>)numThreads;
                Available = true;
                Origin = path;
                return;
            }
        }
    }

    /// <summary>The files mapped into this process (<c>/proc/self/maps</c>), each once; empty where that cannot be read.</summary>
    internal static IReadOnlyList<string> MappedFiles()
    {
        try
        {
            return File.ReadLines("/proc/self/maps")
                .Select(line => line.IndexOf('/') is var i and >= 0 ? line[i..].Trim() : "")
                .Where(p => p.Length > 0).Distinct().ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return []; }
    }

    /// <summary>The libgomp files among <paramref name="mappedFiles"/>, the one beside libtorch's CPU library first (its name is hashed).</summary>
    internal static IReadOnlyList<string> LoadedLibGomp(IReadOnlyList<string> mappedFiles)
    {
        var torchDir = mappedFiles.Where(p => Path.GetFileName(p).StartsWith("libtorch_cpu", StringComparison.Ordinal))
            .Select(Path.GetDirectoryName).FirstOrDefault();
        return mappedFiles.Where(p => Path.GetFileName(p).StartsWith("libgomp", StringComparison.Ordinal))
            .OrderBy(p => Path.GetDirectoryName(p) == torchDir ? 0 : 1).ToList();
    }

    private sealed class Job(int parts, Action<int> part)
    {
        public readonly int Parts = parts;
        public readonly Action<int> Part = part;
        public Exception? Error;
    }

    /// <summary>
    /// Runs <paramref name="part"/>(0 … parts − 1), each exactly once, on a team of <paramref name="parts"/> OpenMP
    /// threads (the calling thread is one of them); a smaller team (nested region, thread limit) loops over the parts.
    /// The first exception is rethrown on the calling thread after all parts have run.
    /// </summary>
    public static void Run(int parts, Action<int> part)
    {
        if (!Available) throw new InvalidOperationException($"OpenMP team unavailable: {Origin}");
        var job = new Job(parts, part);
        var handle = GCHandle.Alloc(job);
        try { GompParallel(&Body, GCHandle.ToIntPtr(handle), (uint)parts, 0); }
        finally { handle.Free(); }
        if (job.Error is not null) ExceptionDispatchInfo.Throw(job.Error);
    }

    [UnmanagedCallersOnly]
    private static void Body(IntPtr data)
    {
        var job = (Job)GCHandle.FromIntPtr(data).Target!;
        int team = Math.Max(1, NumThreads());
        for (int p = ThreadNum(); p < job.Parts; p += team)
        {
            try { job.Part(p); }
            catch (Exception e) { Interlocked.CompareExchange(ref job.Error, e, null); }   // an exception must not unwind into libgomp
        }
    }
}
