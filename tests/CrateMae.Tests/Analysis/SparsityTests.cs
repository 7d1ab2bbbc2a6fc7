using CrateMae.Analysis;
using static TorchSharp.torch;

namespace CrateMae.Tests.Analysis;

public sealed class SparsityTests
{
    public SparsityTests() => AnalysisTestSupport.Init();

    [Fact]
    public void ZeroFractions_CountExactZerosPerSample()
    {
        // Given two samples of 2×3 entries: 3 zeros in the first; one −0.0, one NaN and a tiny value in the second
        var data = new float[]
        {
            0, 1, 0,      2, 0, 3,
            -0f, float.NaN, 1e-30f,   4, 5, 6,
        };
        using var x = tensor(data).view(2, 2, 3);

        // When
        var z = Sparsity.ZeroFractions(x);

        // Then exactly-zero entries (−0.0 included, NaN and 1e-30 excluded) are counted per sample
        Assert.Equal(new[] { 3.0 / 6, 1.0 / 6 }, z);
        Assert.Equal(0.5, Sparsity.Density(z[0]));
        var stats = Sparsity.Measure(x);
        Assert.Equal(2, stats.Count);
        Assert.Equal(2.0 / 6, stats.Mean, 12);
        Assert.Equal(Math.Sqrt(2) / 6, stats.Std, 12);   // unbiased std of {1/2, 1/6}
    }

    [Fact]
    public void ZeroFractions_RejectEmptyInput()
    {
        Assert.Throws<ArgumentException>(() => Sparsity.ZeroFractions(zeros(3)));
        Assert.Throws<ArgumentException>(() => Sparsity.ZeroFractions(zeros(0, 2, 2)));
    }
}
