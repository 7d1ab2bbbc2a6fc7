using static TorchSharp.torch;

namespace CrateMae.Tests.Support;

public static class TensorAssert
{
    /// <summary>max|Δ| / max|ref| ≤ tolerance (the fixtures' measure; element-wise relative error is unusable near zero).</summary>
    public static double RelativeToMax(Tensor actual, Tensor expected, double tolerance, string what) =>
        Relative(actual, expected, tolerance, what, t => t.abs().max(), "max|Δ|", "max|ref|");

    /// <summary>‖Δ‖₂ / ‖ref‖₂ ≤ tolerance: the size of a rounding error spread over a whole tensor, not its single worst element.</summary>
    public static double RelativeNorm(Tensor actual, Tensor expected, double tolerance, string what) =>
        Relative(actual, expected, tolerance, what, t => t.norm(), "‖Δ‖", "‖ref‖");

    /// <summary>size(actual − expected) / size(expected) ≤ tolerance, in float64 (the absolute error when expected is zero).</summary>
    private static double Relative(Tensor actual, Tensor expected, double tolerance, string what, Func<Tensor, Tensor> size,
        string errorName, string scaleName)
    {
        SameShape(actual, expected, what);
        using var a = actual.detach().cpu().to(ScalarType.Float64);
        using var e = expected.detach().cpu().to(ScalarType.Float64);
        using var diff = a - e;
        using var scaleT = size(e);
        using var errT = size(diff);
        double scale = scaleT.item<double>(), err = errT.item<double>();
        double rel = scale == 0 ? err : err / scale;
        Assert.True(rel <= tolerance, $"{what}: {errorName}/{scaleName} = {rel:E3} > {tolerance:E1} ({errorName} {err:E3}, {scaleName} {scale:E3})");
        return rel;
    }

    private static void SameShape(Tensor actual, Tensor expected, string what) =>
        Assert.True(actual.shape.SequenceEqual(expected.shape),
            $"{what}: shape [{string.Join(", ", actual.shape)}] ≠ expected [{string.Join(", ", expected.shape)}]");

    public static void Exact(Tensor actual, Tensor expected, string what)
    {
        SameShape(actual, expected, what);
        using var a = actual.detach().cpu();
        using var e = expected.detach().cpu().to(a.dtype);
        Assert.True(a.eq(e).all().item<bool>(), $"{what}: not exactly equal");
    }
}
