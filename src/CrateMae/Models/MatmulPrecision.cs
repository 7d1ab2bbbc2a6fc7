using TorchSharp;
using static TorchSharp.torch;

namespace CrateMae.Models;

/// <summary>
/// Hand-made autocast (TorchSharp has none): inside <see cref="Use"/> with bfloat16, the model's matrix products run
/// in bf16 (AMX on this CPU) while master weights, norms, softmax and the loss stay float32.
/// The choice is per thread, like PyTorch's autocast context.
/// </summary>
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

    /// <summary>Parses <c>fp32</c> / <c>bf16</c> as given to <c>--precision</c>.</summary>
    public static ScalarType? Parse(string? name) => (name ?? "fp32").ToLowerInvariant() switch
    {
        "fp32" or "float32" => null,
        "bf16" or "bfloat16" => ScalarType.BFloat16,
        _ => throw new ArgumentException($"--precision {name}: expected fp32 or bf16"),
    };

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
