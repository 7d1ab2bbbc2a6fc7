using CrateMae.Models;
using CrateMae.Tests.Support;
using static TorchSharp.torch;

namespace CrateMae.Tests.Models;

/// <summary>The direct call into libtorch's in-place <c>baddbmm_</c>: same numbers as the out-of-place op, really in place, and bad input refused before it reaches C++.</summary>
public sealed class InPlaceBaddbmmTests
{
    [Fact]
    public void Given_the_libtorch_op_When_resolving_it_Then_it_is_found()
    {
        // A silent fallback would copy the result back and cost what the in-place call saves.
        Assert.True(InPlaceBaddbmm.Available, "at::_ops::baddbmm_::call was not found in libtorch_cpu.so");
    }

    [Theory]
    [InlineData(ScalarType.Float32, 1e-6)]
    [InlineData(ScalarType.BFloat16, 1e-2)]
    public void Given_an_accumulator_When_adding_a_batched_product_Then_it_equals_the_out_of_place_op_in_the_same_memory(ScalarType dt, double tolerance)
    {
        // Given
        using var scope = NewDisposeScope();
        using var gen = new Generator(31);
        var acc = randn(3, 5, 7, generator: gen).to(dt);
        var b1 = randn(3, 5, 4, generator: gen).to(dt);
        var b2 = randn(3, 7, 4, generator: gen).to(dt).transpose(1, 2);     // a transposed operand, as in the attention backward
        var expected = (acc.to(ScalarType.Float32) + b1.to(ScalarType.Float32).bmm(b2.to(ScalarType.Float32)) * 0.5f);
        var alias = acc.alias();                                                // shares acc's memory

        // When
        InPlaceBaddbmm.Accumulate(acc, b1, b2, 0.5);

        // Then
        Assert.Equal(0f, (alias - acc).abs().max().to(ScalarType.Float32).item<float>());   // written in place
        TensorAssert.RelativeToMax(acc.to(ScalarType.Float32), expected, tolerance, $"{dt} in-place baddbmm");
    }

    [Fact]
    public void Given_mismatched_or_aliased_operands_When_accumulating_Then_an_argument_error_names_the_problem()
    {
        using var scope = NewDisposeScope();
        var acc = zeros(2, 3, 4);
        var ex = Assert.Throws<ArgumentException>(() => InPlaceBaddbmm.Accumulate(acc, zeros(2, 3, 5), zeros(2, 6, 4), 1));
        Assert.Contains("does not match", ex.Message);
        ex = Assert.Throws<ArgumentException>(() => InPlaceBaddbmm.Accumulate(acc, zeros(2, 3, 4, dtype: ScalarType.BFloat16), zeros(2, 4, 4), 1));
        Assert.Contains("dtypes", ex.Message);
        var square = zeros(2, 4, 4);
        ex = Assert.Throws<ArgumentException>(() => InPlaceBaddbmm.Accumulate(square, square.transpose(1, 2), zeros(2, 4, 4), 1));
        Assert.Contains("shares memory", ex.Message);
        ex = Assert.Throws<ArgumentException>(() => InPlaceBaddbmm.Accumulate(zeros(2, 4, 3).transpose(1, 2), zeros(2, 3, 4), zeros(2, 4, 4), 1));
        Assert.Contains("contiguous", ex.Message);
        ex = Assert.Throws<ArgumentException>(() => InPlaceBaddbmm.Accumulate(zeros(2, 3, 4).requires_grad_(true), zeros(2, 3, 4), zeros(2, 4, 4), 1));
        Assert.Contains("autograd", ex.Message);
    }
}
