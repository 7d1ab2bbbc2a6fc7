using CrateMae.Kernels;
using CrateMae.Tests.Support;
using static TorchSharp.torch;

namespace CrateMae.Tests.Models;

/// <summary>
/// The LayerNorm and threshold kernels of the encoder (LN, fused LN(x + r), threshold + ReLU, the differentiable bf16 LN)
/// against libtorch's ops, at every vector width this CPU accelerates. The fixture-level
/// check is FastPathTests (unmasked features under no_grad equal the reference path within 1e-5) and Bf16Tests.
/// </summary>
public sealed class LayerNormSimdTests
{
    public static TheoryData<int, ScalarType, int, int, bool> Shapes()
    {
        var data = new TheoryData<int, ScalarType, int, int, bool>();
        foreach (var bits in KernelWidths.Accelerated)
        foreach (var dt in new[] { ScalarType.Float32, ScalarType.BFloat16 })
        foreach (var d in new[] { 16, 64, 192, 576 })
        foreach (var rows in new[] { 5, 300 })
        foreach (var residual in new[] { false, true })
            data.Add(bits, dt, rows, d, residual);
        return data;
    }

    public static TheoryData<int> Widths() => KernelWidths.AcceleratedData();

    public static TheoryData<int, ScalarType> WidthsAndTypes()
    {
        var data = new TheoryData<int, ScalarType>();
        foreach (var bits in KernelWidths.Accelerated)
        foreach (var dt in new[] { ScalarType.Float32, ScalarType.BFloat16 })
            data.Add(bits, dt);
        return data;
    }

    public static TheoryData<int, int, int> TrainingShapes()
    {
        var data = new TheoryData<int, int, int>();
        foreach (var bits in KernelWidths.Accelerated)
        {
            data.Add(bits, 5, 64);
            data.Add(bits, 300, 192);
        }
        return data;
    }

    private static nn.Module<Tensor, Tensor> Norm(int d, Generator gen, out TorchSharp.Modules.LayerNorm ln)
    {
        ln = nn.LayerNorm(d, eps: 1e-5);
        using (no_grad())
        {
            ln.weight!.copy_(randn(d, generator: gen) * 0.5 + 1);
            ln.bias!.copy_(randn(d, generator: gen) * 0.1);
        }
        return ln;
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Given_rows_When_normalised_without_autograd_Then_the_kernel_equals_libtorchs_layer_norm(int bits, ScalarType dt, int rows, int d, bool withResidual)
    {
        // Given
        using var scope = NewDisposeScope();
        using var gen = new Generator(21);
        using var _ = Norm(d, gen, out var ln);
        var x = (randn(rows, d, generator: gen) * 3 + 0.5).to(dt);
        var r = withResidual ? randn(rows, d, generator: gen).to(dt) : null;
        using var noGrad = no_grad();
        Assert.True(LayerNormSimd.Supports(x, ln, bits, r));

        // When
        var y = LayerNormSimd.Apply(ln, x, KernelWidths.At(bits), r);

        // Then: float32 within 1e-5 of the largest output; bf16 within two bf16 spacings (libtorch rounds x + r to
        // bf16 before normalising, the kernel keeps the sum in float32)
        Assert.Equal(dt, y.dtype);
        var expected = ln.forward(r is null ? x : (x + r));
        TensorAssert.RelativeToMax(y.to(ScalarType.Float32), expected.to(ScalarType.Float32), dt == ScalarType.Float32 ? 1e-5 : 2.0 / 128, $"{dt} LN");
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void Given_autograd_on_When_normalising_Then_libtorchs_differentiable_layer_norm_runs(int bits)
    {
        // Given
        using var scope = NewDisposeScope();
        using var gen = new Generator(22);
        using var _ = Norm(64, gen, out var ln);
        var x = randn(8, 64, generator: gen).requires_grad_(true);

        // When
        Assert.False(LayerNormSimd.Supports(x, ln, bits));
        var y = LayerNormSimd.Apply(ln, x, KernelWidths.At(bits));
        y.sum().backward();

        // Then
        Assert.NotNull(x.grad);
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void Given_a_width_that_is_not_whole_vectors_When_normalising_Then_it_falls_back_with_the_same_result(int bits)
    {
        // Given: 42 floats, not a whole number of 4, 8 or 16 lanes
        using var scope = NewDisposeScope();
        using var gen = new Generator(23);
        using var _ = Norm(42, gen, out var ln);
        var x = randn(6, 42, generator: gen);
        var r = randn(6, 42, generator: gen);
        using var noGrad = no_grad();
        Assert.False(LayerNormSimd.Supports(x, ln, bits, r));

        // When
        var y = LayerNormSimd.Apply(ln, x, KernelWidths.At(bits), r);

        // Then
        TensorAssert.Exact(y, ln.forward(x + r), "fallback LN");
    }

    [Theory]
    [MemberData(nameof(WidthsAndTypes))]
    public void Given_ista_pre_activations_When_shrunk_in_place_Then_they_equal_sub_then_relu(int bits, ScalarType dt)
    {
        // Given
        using var scope = NewDisposeScope();
        using var gen = new Generator(24);
        var x = randn(130, 192, generator: gen).to(dt);
        var expected = (x.to(ScalarType.Float32) - 0.05).relu().to(dt);
        using var noGrad = no_grad();
        Assert.True(LayerNormSimd.SupportsThreshold(x, bits));

        // When
        var y = LayerNormSimd.ShrinkInPlace(x, 0.05, KernelWidths.At(bits));

        // Then: in place, and equal to the float32 computation rounded once
        Assert.Equal(x.Handle, y.Handle);
        TensorAssert.Exact(y, expected, $"{dt} shrink");
    }

    [Theory]
    [MemberData(nameof(TrainingShapes))]
    public void Given_a_bf16_activation_with_autograd_When_backpropagating_Then_dx_dgamma_dbeta_match_a_float32_layer_norm(int bits, int rows, int d)
    {
        // Given: a bf16 input and LN parameters, and the same computation in float32 as the reference
        using var scope = NewDisposeScope();
        using var gen = new Generator(25);
        using var _ = Norm(d, gen, out var ln);
        var x16 = (randn(rows, d, generator: gen) * 2 + 0.3).to(ScalarType.BFloat16).requires_grad_(true);
        var dy = randn(rows, d, generator: gen).to(ScalarType.BFloat16);
        Assert.False(LayerNormSimd.SupportsTraining(x16, ln, bits));      // small: Apply would take libtorch's; call the kernel directly

        // When
        var y = LayerNormFunction.Of(x16, ln, bits);
        y.backward([dy]);
        AutogradHandoff.ReleaseAll();
        var (dx, dgamma, dbeta) = (x16.grad!.to(ScalarType.Float32), ln.weight!.grad!.clone(), ln.bias!.grad!.clone());
        ln.weight!.grad!.zero_();
        ln.bias!.grad!.zero_();
        var x32 = x16.detach().to(ScalarType.Float32).requires_grad_(true);
        var y32 = ln.forward(x32);
        y32.backward([dy.to(ScalarType.Float32)]);

        // Then: the output within bf16 rounding, the gradients within bf16 rounding of dx and float32 sums for γ, β
        Assert.Equal(ScalarType.BFloat16, y.dtype);
        TensorAssert.RelativeToMax(y.to(ScalarType.Float32), y32, 1.0 / 128, "LN output");
        TensorAssert.RelativeToMax(dx, x32.grad!, 2.0 / 128, "dx");
        TensorAssert.RelativeToMax(dgamma, ln.weight!.grad!, 1e-5, "dgamma");
        TensorAssert.RelativeToMax(dbeta, ln.bias!.grad!, 1e-5, "dbeta");
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void Given_a_large_bf16_activation_with_autograd_When_normalising_Then_the_differentiable_kernel_is_chosen(int bits)
    {
        // Given
        using var scope = NewDisposeScope();
        using var gen = new Generator(26);
        using var _ = Norm(192, gen, out var ln);
        var big = randn(4160, 192, generator: gen).to(ScalarType.BFloat16).requires_grad_(true);
        var small = randn(1600, 192, generator: gen).to(ScalarType.BFloat16).requires_grad_(true);

        // When / Then: above the measured crossover the kernel, below it libtorch's LN (its grad_fn is not ours)
        Assert.True(LayerNormSimd.SupportsTraining(big, ln, bits));
        Assert.False(LayerNormSimd.SupportsTraining(small, ln, bits));
        var y = LayerNormSimd.Apply(ln, big, KernelWidths.At(bits));
        TensorAssert.RelativeToMax(y.to(ScalarType.Float32), ln.forward(big.detach()).to(ScalarType.Float32), 1.0 / 128, "LN output");
    }
}
