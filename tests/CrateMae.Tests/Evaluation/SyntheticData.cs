using static TorchSharp.torch;

namespace CrateMae.Tests.Evaluation;

/// <summary>Seeded synthetic features for the evaluation tests.</summary>
internal static class SyntheticData
{
    /// <summary>
    /// Gaussian blobs: class c has mean μ_c ~ N(0, separation²·I) and unit-variance noise; returns features [n, dim]
    /// float32 and labels [n] int64 with <paramref name="perClass"/> samples per class, classes interleaved.
    /// </summary>
    public static (Tensor X, Tensor Y) Blobs(int classes, int perClass, int dim, double separation, long seed, Tensor? centres = null)
    {
        using var scope = NewDisposeScope();
        var g = new Generator((ulong)seed);
        centres ??= randn(classes, dim, generator: g) * separation;
        var y = arange(classes, dtype: int64).repeat(perClass);                       // 0,1,..,C-1,0,1,...
        var x = centres[y] + randn(classes * perClass, dim, generator: g);
        return (x.to(float32).MoveToOuterDisposeScope(), y.MoveToOuterDisposeScope());
    }

    public static Tensor Centres(int classes, int dim, double separation, long seed)
    {
        var g = new Generator((ulong)seed);
        return randn(classes, dim, generator: g) * separation;
    }
}
