using System.Diagnostics;
using System.IO.Compression;
using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace CrateMae.Tests.Interop;

/// <summary>Fixture paths, temp folders, tensor comparisons and the optional Python/PyTorch checker.</summary>
internal static class InteropTestSupport
{
    private static readonly Lazy<string?> TorchProblem = new(CheckTorch);

    /// <summary>Folder of the golden fixtures (<see cref="Support.Fixtures.Root"/>).</summary>
    public static string FixturesDir => Support.Fixtures.Root;

    public static string Fixture(string name) => Path.Combine(FixturesDir, name);

    /// <summary>Creates a fresh temporary folder (deleted by the returned object).</summary>
    public static TempFolder NewTempFolder() => new();

    public sealed class TempFolder : IDisposable
    {
        public TempFolder()
        {
            Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "cratemae-interop-" + Guid.NewGuid().ToString("N")[..12]);
            Directory.CreateDirectory(Path);
        }

        public string Path { get; }

        public string File(string name) => System.IO.Path.Combine(Path, name);

        public void Dispose()
        {
            try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>Raw bytes of a tensor (contiguous CPU copy).</summary>
    public static byte[] Bytes(Tensor t)
    {
        using var c = t.detach().cpu().contiguous();
        return c.numel() == 0 ? Array.Empty<byte>() : c.bytes.ToArray();
    }

    /// <summary>Same dtype, same shape, element-wise equal (<c>a.eq(b).all()</c>) and the same bytes.</summary>
    public static void AssertBitEqual(Tensor expected, Tensor actual, string what, bool compareValues = true)
    {
        Assert.True(expected.dtype == actual.dtype, $"{what}: dtype {actual.dtype}, expected {expected.dtype}");
        Assert.True(expected.shape.SequenceEqual(actual.shape),
                    $"{what}: shape [{string.Join(",", actual.shape)}], expected [{string.Join(",", expected.shape)}]");
        if (compareValues)
        {
            using var eq = expected.eq(actual);
            using var all = eq.all();
            Assert.True(all.item<bool>(), $"{what}: values differ");
        }
        Assert.True(Bytes(expected).AsSpan().SequenceEqual(Bytes(actual)), $"{what}: bytes differ");
    }

    /// <summary>Writes a zip holding the given records (used to craft hostile or odd archives).</summary>
    public static void WriteZip(string path, params (string Name, byte[] Data)[] records)
    {
        using var fs = new FileStream(path, FileMode.Create);
        using var zip = new ZipArchive(fs, ZipArchiveMode.Create);
        foreach (var (name, data) in records)
        {
            var e = zip.CreateEntry(name, CompressionLevel.NoCompression);
            using var s = e.Open();
            s.Write(data);
        }
    }

    /// <summary>Test tensors of every dtype the interop layer supports (deterministic).</summary>
    public static List<(string Key, Tensor Value)> AllDtypeTensors()
    {
        var g = new torch.Generator(1234);
        var f32 = torch.randn(new long[] { 3, 5 }, generator: g);
        var list = new List<(string, Tensor)>
        {
            ("f32", f32),
            ("f64", torch.randn(new long[] { 4, 2, 3 }, dtype: ScalarType.Float64, generator: g)),
            ("bf16", torch.randn(new long[] { 7 }, generator: g).to(ScalarType.BFloat16)),
            ("f16", torch.randn(new long[] { 2, 3 }, generator: g).to(ScalarType.Float16)),
            ("i64", torch.tensor(new long[] { long.MinValue, -1, 0, 1, long.MaxValue, 1L << 40 })),
            ("i32", torch.tensor(new[] { int.MinValue, -7, 0, 7, int.MaxValue }).reshape(5, 1)),
            ("i16", torch.tensor(new short[] { short.MinValue, -3, 0, 3, short.MaxValue })),
            ("i8", torch.tensor(new sbyte[] { sbyte.MinValue, -1, 0, 1, sbyte.MaxValue })),
            ("u8", torch.tensor(new byte[] { 0, 1, 127, 128, 255, 42 }).reshape(2, 3)),
            ("bool", torch.tensor(new[] { true, false, false, true, true })),
            ("scalar", torch.tensor(3.5f)),
            ("empty", torch.zeros(new long[] { 0, 4 })),
            ("view.transposed", f32.t()),
            ("view.slice", f32[1..3, 1..4]),
        };
        return list;
    }

    // ---- python --------------------------------------------------------------------------------------------

    public const string PythonPath = "/usr/bin/python3";

    /// <summary>Null when /usr/bin/python3 can import torch; otherwise the reason it cannot.</summary>
    public static string? TorchUnavailableReason => TorchProblem.Value;

    private static string? CheckTorch()
    {
        if (!RuntimeInformation.IsOSPlatform(OSPlatform.Linux) || !File.Exists(PythonPath)) return $"{PythonPath} not found";
        var (code, _, err) = RunPython("import torch; print(torch.__version__)", Array.Empty<string>(), TimeSpan.FromMinutes(2));
        return code == 0 ? null : $"{PythonPath} cannot import torch: {err.Trim()}";
    }

    /// <summary>Runs a Python script with /usr/bin/python3 (one thread; OpenBLAS core type as <see cref="OpenBlasCoreType"/> says).</summary>
    public static (int ExitCode, string Stdout, string Stderr) RunPython(string script, IEnumerable<string> args, TimeSpan? timeout = null) =>
        RunPythonProcess(["-", .. args], script, timeout);

    /// <summary>Runs a script file with /usr/bin/python3, <paramref name="stdin"/> as its standard input.</summary>
    public static (int ExitCode, string Stdout, string Stderr) RunPythonFile(string path, IEnumerable<string> args, string stdin,
        TimeSpan? timeout = null) => RunPythonProcess([path, .. args], stdin, timeout);

    private static (int ExitCode, string Stdout, string Stderr) RunPythonProcess(IEnumerable<string> args, string stdin, TimeSpan? timeout)
    {
        var psi = new ProcessStartInfo(PythonPath)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (OpenBlasCoreType() is { } coreType) psi.Environment["OPENBLAS_CORETYPE"] = coreType;
        psi.Environment["OMP_NUM_THREADS"] = "1";
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("could not start python");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        p.StandardInput.Write(stdin);
        p.StandardInput.Close();
        if (!p.WaitForExit(timeout ?? TimeSpan.FromMinutes(3)))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException("python did not finish in time");
        }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>
    /// The OpenBLAS core type to name for a Python child, or null to keep the environment as it is. Debian's OpenBLAS
    /// misdetects some AVX-512 Xeons and then runs a slow generic kernel, so <c>SkylakeX</c> is named where the CPU has
    /// AVX-512 and the environment sets no core type; on any other CPU that kernel would be an illegal instruction.
    /// </summary>
    public static string? OpenBlasCoreType() =>
        Environment.GetEnvironmentVariable("OPENBLAS_CORETYPE") is null && System.Runtime.Intrinsics.X86.Avx512F.IsSupported
            ? "SkylakeX"
            : null;

    /// <summary>Runs a script that must succeed; returns its stdout.</summary>
    public static string RunPythonChecked(string script, params string[] args)
    {
        var (code, stdout, stderr) = RunPython(script, args);
        Assert.True(code == 0, $"python failed ({code}):\n{stderr}\n{stdout}");
        return stdout;
    }
}
