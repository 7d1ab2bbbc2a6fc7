using static TorchSharp.torch;

namespace CrateMae.Tests.Support;

public static class TensorAssert
{
    /// <summary>max|Δ| / max|ref| ≤ tolerance (the fixtures' measure; element-wise relative error is unusable near zero).</summary>
    public static double RelativeToMax(Tensor actual, Tensor expected, double tolerance, string what)
    {
        Assert.True(actual.shape.SequenceEqual(expected.shape),
            $"{what}: shape [{string.Join(", ", actual.shape)}] ≠ expected [{string.Join(", ", expected.shape)}]");
        using var a = actual.detach().cpu().to(ScalarType.Float64);
        using var e = expected.detach().cpu().to(ScalarType.Float64);
        double scale = e.abs().max().item<double>();
        double err = (a - e).abs().max().item<double>();
        double rel = scale == 0 ? err : err / scale;
        Assert.True(rel <= tolerance, $"{what}: max|Δ|/max|ref| = {rel:E3} > {tolerance:E1} (max|Δ| {err:E3}, max|ref| {scale:E3})");
        return rel;
    }

    /// <summary>‖Δ‖₂ / ‖ref‖₂ ≤ tolerance: the size of a rounding error spread over a whole tensor, not its single worst element.</summary>
    public static double RelativeNorm(Tensor actual, Tensor expected, double tolerance, string what)
    {
        Assert.True(actual.shape.SequenceEqual(expected.shape),
            $"{what}: shape [{string.Join(", ", actual.shape)}] ≠ expected [{string.Join(", ", expected.shape)}]");
        using var a = actual.detach().cpu().to(ScalarType.Float64);
        using var e = expected.detach().cpu().to(ScalarType.Float64);
        double scale = e.norm().item<double>();
        double err = (a - e).norm().item<double>();
        double rel = scale == 0 ? err : err / scale;
        Assert.True(rel <= tolerance, $"{what}: ‖Δ‖/‖ref‖ = {rel:E3} > {tolerance:E1} (‖Δ‖ {err:E3}, ‖ref‖ {scale:E3})");
        return rel;
    }

    public static void Exact(Tensor actual, Tensor expected, string what)
    {
        Assert.True(actual.shape.SequenceEqual(expected.shape),
            $"{what}: shape [{string.Join(", ", actual.shape)}] ≠ expected [{string.Join(", ", expected.shape)}]");
        using var a = actual.detach().cpu();
        using var e = expected.detach().cpu().to(a.dtype);
        Assert.True(a.eq(e).all().item<bool>(), $"{what}: not exactly equal");
    }
}
