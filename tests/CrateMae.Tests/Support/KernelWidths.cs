using CrateMae.Kernels;

namespace CrateMae.Tests.Support;

/// <summary>The vector widths the kernel tests run at.</summary>
public static class KernelWidths
{
    /// <summary>Every width this CPU accelerates, widest first: the kernel tests call the kernels at each.</summary>
    public static IReadOnlyList<int> Accelerated => KernelOptions.AcceleratedWidths;

    /// <summary>
    /// The widths the process allows for model-level tests: the accelerated ones up to <c>CRATE_MAE_SIMD</c>, or 0 alone
    /// (libtorch's ops) when it switches the kernels off.
    /// </summary>
    public static IReadOnlyList<int> Allowed
    {
        get
        {
            var allowed = Accelerated.Where(w => w <= KernelOptions.Default.SimdBits).ToList();
            return allowed.Count == 0 ? [0] : allowed;
        }
    }

    /// <summary>The widest accelerated width.</summary>
    public static int Widest => Accelerated[0];

    /// <summary>The default options at <paramref name="bits"/>.</summary>
    public static KernelOptions At(int bits) => KernelOptions.Default with { SimdBits = bits };

    /// <summary><see cref="Accelerated"/> as theory data.</summary>
    public static TheoryData<int> AcceleratedData()
    {
        var data = new TheoryData<int>();
        foreach (var w in Accelerated) data.Add(w);
        return data;
    }
}
