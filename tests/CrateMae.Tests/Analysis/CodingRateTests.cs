using CrateMae.Analysis;
using TorchSharp;
using static TorchSharp.torch;

namespace CrateMae.Tests.Analysis;

public sealed class CodingRateTests
{
    private const double Eps = CodingRate.DefaultEpsilon;

    public CodingRateTests() => AnalysisTestSupport.Init();

    [Fact]
    public void IdenticalUnitTokens_InOneHead_GiveLogOnePlusDhOverEps()
    {
        // Given N = 5 copies of one direction a (with different positive scales) in a single head of width d_h = 4
        const int n = 5, dh = 4;
        var a = new double[] { 0.5, -0.5, 0.5, 0.5 };
        var data = new double[n * dh];
        for (int i = 0; i < n; i++)
        for (int j = 0; j < dh; j++)
            data[i * dh + j] = a[j] * (i + 1);
        using var projections = tensor(data, dtype: ScalarType.Float32).view(1, n, dh);

        // When R^c is measured with K = 1
        var rc = CodingRate.PerSample(projections, heads: 1);

        // Then ÂᵀÂ = N·aaᵀ, so R_1 = log(1 + d_h/ε) and R^c = ½·R_1
        Assert.Single(rc);
        Assert.Equal(0.5 * Math.Log(1 + dh / Eps), rc[0], 9);
    }

    [Fact]
    public void OrthonormalTokens_WithNEqualToDh_GiveDhTimesLog()
    {
        // Given d_h = N = 6 orthogonal tokens (scaled basis vectors)
        const int dh = 6;
        using var basis = eye(dh, dtype: ScalarType.Float64) * arange(1, dh + 1, dtype: ScalarType.Float64).unsqueeze(1);
        using var projections = basis.unsqueeze(0);

        // When
        using var perHead = CodingRate.HeadLogDets(projections, heads: 1);

        // Then ÂᵀÂ = I, so R_1 = d_h·log(1 + d_h/(N·ε))
        Assert.Equal(dh * Math.Log(1 + dh / (dh * Eps)), perHead[0, 0].item<double>(), 9);
    }

    [Fact]
    public void Heads_AddUp_WithTheHalfFactor()
    {
        // Given two heads of width 4 over N = 4 tokens: head 1 identical tokens, head 2 orthonormal tokens
        const int n = 4, dh = 4;
        var data = new float[n * 2 * dh];
        for (int i = 0; i < n; i++)
        {
            data[i * 2 * dh + 0] = 1;           // head 1: every token = e_0
            data[i * 2 * dh + dh + i] = 1;      // head 2: token i = e_i
        }
        using var projections = tensor(data).view(1, n, 2 * dh);

        // When
        using var perHead = CodingRate.HeadLogDets(projections, heads: 2);
        var rc = CodingRate.PerSample(projections, heads: 2);

        // Then R_1 = log(1 + d_h/ε), R_2 = d_h·log(1 + d_h/(Nε)) and R^c = ½(R_1 + R_2)
        double r1 = Math.Log(1 + dh / Eps), r2 = dh * Math.Log(1 + dh / (n * Eps));
        Assert.Equal(r1, perHead[0, 0].item<double>(), 9);
        Assert.Equal(r2, perHead[0, 1].item<double>(), 9);
        Assert.Equal(0.5 * (r1 + r2), rc[0], 9);
    }

    [Fact]
    public void ScalingATokenOrAHeadVector_DoesNotChangeRc()
    {
        // Given random projections [2, 9, 3·5]
        using var g = new torch.Generator(11);
        using var x = randn(2, 9, 15, generator: g);
        var before = CodingRate.PerSample(x, heads: 3);

        // When one whole token and one head vector of another token are rescaled
        using var scaled = x.clone();
        scaled[0, 2].mul_(7.5);
        scaled[1, 4, 5..10].mul_(0.01);
        var after = CodingRate.PerSample(scaled, heads: 3);

        // Then R^c is unchanged (every head vector is normalised to unit length)
        Assert.Equal(before[0], after[0], 5);
        Assert.Equal(before[1], after[1], 5);
    }

    [Fact]
    public void ZeroToken_IsGuarded_AndCountsInNOnly()
    {
        // Given N = 4 tokens in one head: three copies of a unit vector and one zero vector
        const int n = 4, dh = 3;
        var data = new float[n * dh];
        for (int i = 0; i < n - 1; i++) data[i * dh + 1] = 2;
        using var projections = tensor(data).view(1, n, dh);

        // When
        var rc = CodingRate.PerSample(projections, heads: 1);

        // Then the zero token adds nothing to ÂᵀÂ = 3·aaᵀ but N = 4: R = log(1 + 3·d_h/(4ε))
        Assert.True(double.IsFinite(rc[0]));
        Assert.Equal(0.5 * Math.Log(1 + 3.0 * dh / (n * Eps)), rc[0], 9);
    }

    [Fact]
    public void DhByDhForm_EqualsTheReferenceNByNForm()
    {
        // Given random projections with N = 7 tokens, 2 heads of width 5
        using var g = new torch.Generator(3);
        using var x = randn(3, 7, 10, generator: g, dtype: ScalarType.Float64);
        const double eps = 0.05;

        // When computed with the d_h×d_h form
        using var perHead = CodingRate.HeadLogDets(x, heads: 2, epsilon: eps);

        // Then it equals logdet(I_N + (d_h/(N·ε))·ÂÂᵀ) evaluated directly
        using var scope = NewDisposeScope();
        var heads = x.view(3, 7, 2, 5).transpose(1, 2);
        var unit = heads / heads.norm(-1, keepdim: true);
        var gramN = unit.matmul(unit.transpose(-1, -2));
        var reference = linalg.slogdet(eye(7, dtype: ScalarType.Float64) + gramN * (5 / (7 * eps))).Item2;
        Assert.True(perHead.allclose(reference, rtol: 1e-10, atol: 1e-10));
    }

    [Fact]
    public void PerSampleValues_AreIndependentOfTheBatch()
    {
        // Given a batch of 4 samples
        using var g = new torch.Generator(5);
        using var x = randn(4, 6, 8, generator: g);

        // When measured as a batch and one by one
        var batch = CodingRate.PerSample(x, heads: 2);
        var single = Enumerable.Range(0, 4).Select(i => CodingRate.PerSample(x[i..(i + 1)], heads: 2)[0]).ToArray();

        // Then the values agree, and the statistics use the unbiased std
        Assert.Equal(single, batch, (a, b) => Math.Abs(a - b) < 1e-9);
        var stats = CodingRate.Measure(x, heads: 2);
        double mean = batch.Average();
        Assert.Equal(mean, stats.Mean, 12);
        Assert.Equal(Math.Sqrt(batch.Sum(v => (v - mean) * (v - mean)) / 3), stats.Std, 12);
    }

    [Fact]
    public void SampleStatistics_UseTheUnbiasedStd()
    {
        var s = SampleStatistics.Of([1.0, 2.0, 3.0, 4.0]);
        Assert.Equal(4, s.Count);
        Assert.Equal(2.5, s.Mean, 12);
        Assert.Equal(Math.Sqrt(5.0 / 3.0), s.Std, 12);
        Assert.Equal(0, SampleStatistics.Of([3.0]).Std);
        Assert.Throws<ArgumentException>(() => SampleStatistics.Of(Array.Empty<double>()));
    }

    [Fact]
    public void InvalidInput_IsRejectedWithAClearError()
    {
        using var x = zeros(1, 4, 10);
        var e = Assert.Throws<ArgumentException>(() => CodingRate.PerSample(x, heads: 3));
        Assert.Contains("not divisible", e.Message);
        Assert.Throws<ArgumentException>(() => CodingRate.PerSample(zeros(4, 10), heads: 2));
        Assert.Throws<ArgumentException>(() => CodingRate.PerSample(x, heads: 2, epsilon: 0));
        using var bad = full(1, 4, 10, double.NaN);
        Assert.Throws<ArgumentException>(() => CodingRate.PerSample(bad, heads: 2));
    }
}
