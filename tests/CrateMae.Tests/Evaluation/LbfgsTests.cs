using CrateMae.Evaluation;

namespace CrateMae.Tests.Evaluation;

[Collection(EvaluationTestCollection.Name)]
public sealed class LbfgsTests
{
    [Fact]
    public void GivenAnIllConditionedQuadratic_WhenMinimised_ThenItReachesTheMinimiserWithinTolerance()
    {
        // f(x) = ½ Σ a_i (x_i − c_i)², condition number 1e4.
        double[] a = [1, 10, 100, 1000, 10000];
        double[] c = [1, -2, 3, -4, 5];
        double F(ReadOnlySpan<double> x, Span<double> g)
        {
            double f = 0;
            for (int i = 0; i < x.Length; i++)
            {
                g[i] = a[i] * (x[i] - c[i]);
                f += 0.5 * a[i] * (x[i] - c[i]) * (x[i] - c[i]);
            }
            return f;
        }

        var result = new Lbfgs(new LbfgsOptions { GradientTolerance = 1e-10 }).Minimize(F, new double[5]);

        Assert.True(result.Converged, result.StopReason);
        Assert.True(result.GradientNorm <= 1e-10);
        for (int i = 0; i < 5; i++) Assert.Equal(c[i], result.X[i], 1e-9);
    }

    [Fact]
    public void GivenRosenbrock_WhenMinimisedFromTheClassicStart_ThenItFindsOneOne()
    {
        static double F(ReadOnlySpan<double> x, Span<double> g)
        {
            double u = 1 - x[0], v = x[1] - x[0] * x[0];
            g[0] = -2 * u - 400 * x[0] * v;
            g[1] = 200 * v;
            return u * u + 100 * v * v;
        }

        var result = new Lbfgs(new LbfgsOptions { GradientTolerance = 1e-8 }).Minimize(F, [-1.2, 1.0]);

        Assert.True(result.Converged, result.StopReason);
        Assert.Equal(1.0, result.X[0], 1e-6);
        Assert.Equal(1.0, result.X[1], 1e-6);
        Assert.True(result.Iterations < 100, $"{result.Iterations} iterations");
    }

    [Fact]
    public void GivenBadOptions_WhenConstructing_ThenTheErrorNamesTheOption()
    {
        var e = Assert.Throws<ArgumentException>(() => new Lbfgs(new LbfgsOptions { History = 0 }));
        Assert.Contains("history", e.Message);
        e = Assert.Throws<ArgumentException>(() => new Lbfgs(new LbfgsOptions { GradientTolerance = 0 }));
        Assert.Contains("gradient_tolerance", e.Message);
    }
}
