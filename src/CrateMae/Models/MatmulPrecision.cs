using TorchSharp;
using static TorchSharp.torch;

namespace CrateMae.Models;

/// <summary>
/// Hand-made autocast (TorchSharp has none): inside <see cref="Use"/> with bfloat16, the model's matrix products run
/// in bf16 (AMX on this CPU) while master weights, gradients, optimizer state and the loss stay float32, and norms
/// and the softmax compute in float32. The choice is per thread, like PyTorch's autocast context.
/// </summary>
/// <remarks>
/// <see cref="Linear"/> and <see cref="Matmul"/> always return float32 (the simple form, for callers that only need one
/// product). <see cref="LinearKeep"/> keeps its result in the reduced dtype. Through the CRATE encoder and decoder the
/// activation stream is stored in bf16 (<c>MaskedAutoencoder.ToStream</c>): LayerNorm reads and writes bf16 with float32
/// statistics, the softmax loads bf16 scores and sums in float32, products accumulate in float32 and round once, and
/// latents, features and predictions leave in float32. Weights are cast where they are used (a D×D cast is negligible
/// next to the activations).
/// </remarks>
public static class MatmulPrecision
{
    [ThreadStatic] private static ScalarType? _dtype;

    /// <summary>The reduced dtype in force on this thread, or null for full precision.</summary>
    public static ScalarType? Current => _dtype;

    /// <summary>Runs matrix products in <paramref name="dtype"/> (null or float32 = full precision) until disposed.</summary>
    public static IDisposable Use(ScalarType? dtype)
    {
        var previous = _dtype;
        _dtype = dtype == ScalarType.Float32 ? null : dtype;
        return new Restore(previous);
    }

    /// <summary>Parses <c>fp32</c> / <c>bf16</c> / <c>auto</c> as given to <c>--precision</c> (auto: see <see cref="Resolve"/>, on a CPU).</summary>
    public static ScalarType? Parse(string? name) => Resolve(name, "cpu") switch
    {
        "fp32" => null,
        _ => ScalarType.BFloat16,
    };

    /// <summary>
    /// The canonical name (<c>fp32</c> or <c>bf16</c>) of a <c>--precision</c> value. <c>auto</c> means bf16 on a CPU
    /// that multiplies bf16 natively (AMX-BF16 or AVX512-BF16: several times the fp32 matmul rate) and fp32 elsewhere —
    /// on other CPUs bf16 products are emulated and slower than fp32, and on CUDA the choice is left to the user.
    /// </summary>
    public static string Resolve(string? name, string device) => Resolve(name, device, CpuHasNativeBf16);

    /// <summary><see cref="Resolve(string?, string)"/> for a CPU that has (or lacks) bf16 instructions.</summary>
    public static string Resolve(string? name, string device, bool cpuHasNativeBf16) => (name ?? "fp32").ToLowerInvariant() switch
    {
        "fp32" or "float32" => "fp32",
        "bf16" or "bfloat16" => "bf16",
        "auto" => IsCpu(device) && cpuHasNativeBf16 ? "bf16" : "fp32",
        _ => throw new ArgumentException($"--precision {name}: expected fp32, bf16 or auto"),
    };

    /// <summary>
    /// The one-line warning due when <c>--precision</c> <paramref name="name"/> asks for bf16 products on a CPU
    /// <paramref name="device"/> without bf16 instructions (<paramref name="cpuHasNativeBf16"/> false), where libtorch
    /// emulates them far slower than fp32; null otherwise (including names that are not a precision).
    /// </summary>
    public static string? SlowBf16Warning(string? name, string device, bool cpuHasNativeBf16) =>
        name?.ToLowerInvariant() is "bf16" or "bfloat16" && IsCpu(device) && !cpuHasNativeBf16
            ? $"warning: --precision {name}: this CPU has no bf16 instructions (AMX-BF16 or AVX512-BF16), so bf16 matrix products run far slower than fp32 here; --precision auto chooses fp32"
            : null;

    private static bool IsCpu(string device) => device.StartsWith("cpu", StringComparison.OrdinalIgnoreCase);

    /// <summary>True when /proc/cpuinfo lists <c>amx_bf16</c> or <c>avx512_bf16</c> (false where it cannot be read).</summary>
    public static bool CpuHasNativeBf16 => NativeBf16.Value;

    private static readonly Lazy<bool> NativeBf16 = new(() =>
    {
        try
        {
            var flags = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("flags", StringComparison.Ordinal));
            return flags is not null && flags.Split(' ', ':', '\t').Any(f => f is "amx_bf16" or "avx512_bf16");
        }
        catch (IOException) { return false; }
        catch (UnauthorizedAccessException) { return false; }
    });

    /// <summary><c>x·wᵀ + b</c>, in the reduced dtype when one is in force; the result is float32.</summary>
    public static Tensor Linear(Tensor x, Tensor w, Tensor? b = null)
    {
        if (_dtype is not { } dt) return nn.functional.linear(x, w, b);
        using var xr = x.to(dt);
        using var wr = w.to(dt);
        using var br = b?.to(dt);
        using var y = nn.functional.linear(xr, wr, br);
        return y.to(ScalarType.Float32);
    }

    /// <summary>The dtype products run in on this thread: the reduced dtype, or float32.</summary>
    public static ScalarType ComputeType => _dtype ?? ScalarType.Float32;

    /// <summary><paramref name="t"/> in the compute dtype (no copy when it already is).</summary>
    public static Tensor Cast(Tensor t) => _dtype is { } dt && t.dtype != dt ? t.to(dt) : t.alias();

    /// <summary><c>x·wᵀ + b</c> in the compute dtype; the result stays in that dtype (bf16 inside a bf16 scope).</summary>
    public static Tensor LinearKeep(Tensor x, Tensor w, Tensor? b = null)
    {
        if (_dtype is not { } dt) return nn.functional.linear(x, w, b);
        using var xr = x.dtype == dt ? x.alias() : x.to(dt);
        using var wr = w.to(dt);
        using var br = b?.to(dt);
        return nn.functional.linear(xr, wr, br);
    }

    /// <summary>
    /// <paramref name="t"/> in float32: the model's outputs (loss inputs, latents, features) leave a bf16 scope in
    /// float32 whatever dtype the activation stream had.
    /// </summary>
    public static Tensor ToFloat32(Tensor t) => t.dtype == ScalarType.Float32 ? t.alias() : t.to(ScalarType.Float32);

    /// <summary><c>a·b</c> (batched), in the reduced dtype when one is in force; the result is float32.</summary>
    public static Tensor Matmul(Tensor a, Tensor b)
    {
        if (_dtype is not { } dt) return a.matmul(b);
        using var ar = a.to(dt);
        using var br = b.to(dt);
        using var y = ar.matmul(br);
        return y.to(ScalarType.Float32);
    }

    private sealed class Restore(ScalarType? previous) : IDisposable
    {
        public void Dispose() => _dtype = previous;
    }
}
