using CrateMae.Evaluation;
using TorchSharp;
using static TorchSharp.torch;

namespace CrateMae.Tests.Evaluation;

public sealed class PcaWhiteningTests
{
    [Fact]
    public void GivenCorrelatedFeatures_WhenWhitened_ThenTheKeptDirectionsHaveZeroMeanAndIdentityCovarianceOnTheTrainingSet()
    {
        using var scope = NewDisposeScope();
        var g = new Generator(7);
        var mixing = randn(6, 6, generator: g) * tensor(new float[] { 10, 5, 2, 1, 0.1f, 0.01f }).unsqueeze(1);   // unequal variances
        var train = randn(4000, 6, generator: g).matmul(mixing) + 3;                                              // [n, 6], mean ≠ 0

        using var whitening = PcaWhitening.Fit(train, components: 4);
        var w = whitening.Apply(train).to(ScalarType.Float64);                                                   // [n, 4]

        Assert.Equal(4, whitening.Components);
        Assert.Equal([4000L, 4L], w.shape);
        Assert.True(w.mean([0]).abs().max().item<double>() < 1e-4);
        var covariance = w.T.matmul(w - w.mean([0])) / (w.shape[0] - 1);
        Assert.True((covariance - eye(4, dtype: ScalarType.Float64)).abs().max().item<double>() < 1e-3, string.Join(", ", covariance.data<double>().ToArray()));
    }

    [Fact]
    public void GivenTestFeatures_WhenWhitened_ThenTheTrainingMeanAndDirectionsAreUsed()
    {
        using var scope = NewDisposeScope();
        var g = new Generator(3);
        var train = randn(500, 5, generator: g) * tensor(new float[] { 4, 3, 2, 1, 0.5f });
        using var whitening = PcaWhitening.Fit(train, components: 5);
        var mean = train.mean([0], keepdim: true);

        // The training mean maps to the origin, and the map is affine: f(a) − f(b) = f(a − b + μ).
        Assert.True(whitening.Apply(mean).abs().max().item<float>() < 1e-5);
        var a = randn(3, 5, generator: g);
        var b = randn(3, 5, generator: g);
        Assert.True((whitening.Apply(a) - whitening.Apply(b) - whitening.Apply(a - b + mean)).abs().max().item<float>() < 1e-4);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(6)]
    public void GivenAComponentCountOutsideTheFeatureDimension_WhenFitted_ThenTheErrorNamesWhiten(int components)
    {
        using var train = randn(10, 5);
        var e = Assert.Throws<ArgumentException>(() => PcaWhitening.Fit(train, components));
        Assert.StartsWith($"--whiten {components}: expected 1 … 5, the feature dimension", e.Message);
    }
}
