using CrateMae.Bench;

namespace CrateMae.Tests.Bench;

/// <summary>
/// The single-product BenchmarkDotNet benchmarks (bench/CrateMae.Bench/ProductBenchmarks.cs): every method runs
/// repeatedly on the same inputs, as BenchmarkDotNet calls it, and computes a result of the product's shape.
/// </summary>
public sealed class ProductBenchmarkTests
{
    [Theory]
    [InlineData("bf16", 48)]
    [InlineData("fp32", 64)]
    public void Given_the_attention_products_When_each_runs_twice_Then_each_returns_its_output_size(string precision, int headWidth)
    {
        var b = new AttentionProductBenchmark { Precision = precision, HeadWidth = headWidth, Threads = 1 };
        b.Setup();
        try
        {
            for (int i = 0; i < 2; i++)
            {
                Assert.Equal(96L * 197 * 197, b.Gram());
                Assert.Equal(96L * 197 * headWidth, b.Value());
                Assert.Equal(96L * 197 * headWidth, b.TransposedValue());
            }
        }
        finally { b.Cleanup(); }
    }

    [Theory]
    [InlineData("bf16")]
    [InlineData("fp32")]
    public void Given_the_linear_products_When_each_runs_twice_Then_each_returns_its_output_size(string precision)
    {
        var b = new LinearProductBenchmark { Precision = precision, Threads = 1 };
        b.Setup();
        try
        {
            for (int i = 0; i < 2; i++)
            {
                Assert.Equal(1576L * 576, b.Forward());
                Assert.Equal(1576L * 576, b.InputGradient());
                Assert.Equal(576L * 576, b.WeightGradient());
                Assert.Equal(576L * 576, b.WeightGradientSwapped());
                Assert.Equal(576L * 576, b.WeightGradientContiguous());
                Assert.Equal(576L * 576, b.WeightCast());
            }
        }
        finally { b.Cleanup(); }
    }
}
