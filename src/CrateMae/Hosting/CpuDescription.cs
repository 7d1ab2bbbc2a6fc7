using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace CrateMae.Hosting;

/// <summary>
/// The processor a measurement ran on, as a speed figure must name it: the model (Linux <c>/proc/cpuinfo</c>
/// "model name", else the architecture) and the instruction sets that decide which kernels run: AVX2/FMA,
/// AVX-512, AVX512-BF16 and AMX on x86-64 (libtorch's bf16 products are fast only with the last two), NEON on ARM64.
/// Machines of one kind come with different CPUs, so a result without this is not comparable.
/// </summary>
public static class CpuDescription
{
    private static readonly string[] X86Flags = ["avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16"];

    /// <summary>For example <c>Intel(R) Xeon(R) Processor @ 2.80GHz (avx2 fma avx512f)</c>.</summary>
    public static string Current => _current ??= Describe(File.Exists("/proc/cpuinfo") ? File.ReadAllText("/proc/cpuinfo") : null);

    private static string? _current;

    /// <summary>
    /// The description from the text of a <c>/proc/cpuinfo</c> (its first processor), or, without one, from the
    /// architecture and what .NET reports for this process.
    /// </summary>
    public static string Describe(string? cpuinfo)
    {
        string? model = null;
        string[]? flags = null;
        foreach (var line in (cpuinfo ?? "").Split('\n'))
        {
            int colon = line.IndexOf(':');
            if (colon < 0) continue;
            var key = line[..colon].Trim();
            var value = line[(colon + 1)..].Trim();
            if (model is null && key is "model name" or "Model") model = value;
            else if (flags is null && key is "flags" or "Features") flags = value.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (model is not null && flags is not null) break;
        }
        model ??= RuntimeInformation.ProcessArchitecture.ToString();
        var present = flags is null ? RuntimeFlags() : X86Flags.Where(flags.Contains).Concat(flags.Contains("asimd") ? ["neon"] : []).ToArray();
        return present.Length == 0 ? model : $"{model} ({string.Join(' ', present)})";
    }

    private static string[] RuntimeFlags()
    {
        var flags = new List<string>();
        if (Avx2.IsSupported) flags.Add("avx2");
        if (Fma.IsSupported) flags.Add("fma");
        if (Avx512F.IsSupported) flags.Add("avx512f");
        if (AdvSimd.IsSupported) flags.Add("neon");
        return flags.ToArray();
    }
}
