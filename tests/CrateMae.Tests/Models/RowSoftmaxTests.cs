using CrateMae.Kernels;
using CrateMae.Tests.Support;
using static TorchSharp.torch;

namespace CrateMae.Tests.Models;

/// <summary>
/// The row softmax of the explicit attention, at every vector width this CPU accelerates, against libtorch's softmax, forward and backward, in float32 and
/// bf16, for row lengths with and without a partial last vector and for row counts that split over threads; and the
/// explicit attention function built on it against libtorch's autograd over the same ops.
/// (The fixture-level check is FastPathTests: the explicit attention equals the reference path.)
/// </summary>
public sealed class RowSoftmaxTests
{
    public static TheoryData<int, ScalarType, int, int> Shapes()
    {
        var data = new TheoryData<int, ScalarType, int, int>();
        foreach (var bits in KernelWidths.Accelerated)
        foreach (var dt in new[] { ScalarType.Float32, ScalarType.BFloat16 })
        foreach (var n in new[] { 1, 7, 16, 17, 65, 197, 300 })
        foreach (var rows in new[] { 3, 389 })
            data.Add(bits, dt, rows, n);
        return data;
    }

    public static TheoryData<int> Widths() => KernelWidths.AcceleratedData();

    public static TheoryData<int, int, int, int> AttentionShapes()
    {
        var data = new TheoryData<int, int, int, int>();
        foreach (var bits in new[] { 0 }.Concat(KernelWidths.Accelerated))
        {
            data.Add(bits, 6, 33, 16);
            data.Add(bits, 4, 197, 48);        // crate-small's heads at 224 px: rows with a partial last vector
        }
        return data;
    }

    /// <summary>float32: within 1e-6 of libtorch; bf16: within one bf16 spacing (2⁻⁷ relative) — both round a float32 result.</summary>
    private static void AssertClose(Tensor actual, Tensor expected, ScalarType dt, double scale = 1)
    {
        using var a = actual.to(ScalarType.Float32);
        using var e = expected.to(ScalarType.Float32);
        using var err = (a - e).abs();
        using var bound = dt == ScalarType.Float32 ? full_like(e, 1e-6 * scale) : e.abs().mul(1.0 / 128).add(1e-6 * scale);
        using var worst = (err - bound).max();
        Assert.True(worst.item<float>() <= 0, $"{dt}: largest error {err.max().item<float>():G3} exceeds the bound");
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Given_scores_When_the_simd_softmax_runs_Then_it_equals_libtorch_and_rows_sum_to_one(int bits, ScalarType dt, int rows, int n)
    {
        // Given
        using var scope = NewDisposeScope();
        using var gen = new Generator(11);
        var x = (randn(rows, n, generator: gen) * 4).to(dt);
        Assert.True(SoftmaxSimd.Supports(x, bits));

        // When
        var p = RowSoftmax.Forward(x, bits);

        // Then
        Assert.Equal(dt, p.dtype);
        AssertClose(p, x.softmax(-1), dt);
        var sums = p.to(ScalarType.Float32).sum(-1);
        double tol = dt == ScalarType.Float32 ? 1e-5 : n / 128.0 * 0.5 + 1e-2;
        Assert.True((sums - 1).abs().max().item<float>() <= tol);
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Given_scores_that_need_gradients_When_backpropagating_Then_the_gradient_equals_libtorchs(int bits, ScalarType dt, int rows, int n)
    {
        // Given
        using var scope = NewDisposeScope();
        using var gen = new Generator(12);
        var x0 = (randn(rows, n, generator: gen) * 4).to(dt);
        var dy = randn(rows, n, generator: gen).to(dt);
        var xRef = x0.detach().requires_grad_(true);

        // When
        var grad = RowSoftmax.Backward(RowSoftmax.Forward(x0, bits), dy, bits);
        xRef.softmax(-1).backward([dy]);

        // Then
        Assert.Equal(dt, grad.dtype);
        double largest = xRef.grad!.abs().max().to(ScalarType.Float32).item<float>();
        AssertClose(grad, xRef.grad, dt, scale: Math.Max(1, largest) * (dt == ScalarType.Float32 ? 1 : 8));
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void Given_a_row_with_nan_When_the_simd_softmax_runs_Then_that_row_is_nan_and_the_others_are_not(int bits)
    {
        // Given
        using var scope = NewDisposeScope();
        var x = randn(4, 65);
        x[2, 40] = tensor(float.NaN);
        Assert.True(SoftmaxSimd.Supports(x, bits));

        // When
        var p = RowSoftmax.Forward(x, bits);

        // Then
        Assert.True(p[2].isnan().all().item<bool>());
        Assert.False(p[TensorIndex.Slice(0, 2)].isnan().any().item<bool>());
        Assert.False(p[3].isnan().any().item<bool>());
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void Given_a_strided_view_When_the_softmax_runs_Then_it_falls_back_to_libtorch_with_the_same_result(int bits)
    {
        // Given
        using var scope = NewDisposeScope();
        using var gen = new Generator(13);
        var x = randn(65, 40, generator: gen).t();              // [40, 65], not contiguous
        Assert.False(SoftmaxSimd.Supports(x, bits));

        // When
        var p = RowSoftmax.Forward(x, bits);
        var dy = randn(40, 65, generator: gen);
        var grad = RowSoftmax.Backward(p, dy.t().contiguous().t(), bits);    // a strided gradient too

        // Then
        Assert.Equal(0f, (p - x.softmax(-1)).abs().max().item<float>());
        var xRef = x.detach().requires_grad_(true);
        xRef.softmax(-1).backward([dy]);
        Assert.True((grad - xRef.grad!).abs().max().item<float>() <= 1e-6f);
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void Given_the_kernels_switched_off_When_the_softmax_runs_Then_libtorchs_kernel_is_used(int bits)
    {
        // Given
        using var scope = NewDisposeScope();
        using var gen = new Generator(14);
        var x = randn(50, 65, generator: gen) * 4;

        // When
        Tensor viaLibtorch;
        viaLibtorch = RowSoftmax.Forward(x, KernelWidths.At(0).VectorBits);
        var viaSimd = RowSoftmax.Forward(x, KernelWidths.At(bits).VectorBits);

        // Then: libtorch's result exactly, and the SIMD one differs from it somewhere (different exp) but within 1e-6
        Assert.Equal(0f, (viaLibtorch - x.softmax(-1)).abs().max().item<float>());
        float diff = (viaSimd - viaLibtorch).abs().max().item<float>();
        Assert.InRange(diff, 1e-12f, 1e-6f);
    }

    [Fact]
    public void Given_gradients_handed_to_the_engine_When_the_next_backward_begins_Then_their_wrappers_are_released()
    {
        // Given: two gradients returned by one backward call
        using var scope = NewDisposeScope();
        AutogradHandoff.Begin();
        var first = AutogradHandoff.Return(ones(4));
        var second = AutogradHandoff.Return(ones(4));
        Assert.False(first.IsInvalid);
        Assert.False(second.IsInvalid);

        // When the next custom backward begins (the engine holds its own references by then)
        AutogradHandoff.Begin();

        // Then both are freed, and later ones wait for ReleaseAll
        Assert.True(first.IsInvalid);
        Assert.True(second.IsInvalid);
        var third = AutogradHandoff.Return(ones(1));
        AutogradHandoff.ReleaseAll();
        Assert.True(third.IsInvalid);
    }

    [Theory]
    [MemberData(nameof(AttentionShapes))]
    public void Given_heads_When_the_explicit_attention_runs_forward_and_backward_Then_it_equals_libtorchs_autograd_over_the_same_ops(
        int bits, int groups, int n, int d)
    {
        // Given
        using var scope = NewDisposeScope();
        using var gen = new Generator(16);
        var a0 = randn(groups, n, d, generator: gen);
        var upstream = randn(groups, n, d, generator: gen);
        var a = a0.detach().requires_grad_(true);
        var aRef = a0.detach().requires_grad_(true);
        double alpha = 1 / Math.Sqrt(d);

        // When
        var fused = ExplicitAttention.Of(a, alpha, bits);
        (fused * upstream).sum().backward();
        AutogradHandoff.ReleaseAll();
        var plain = aRef.bmm(aRef.transpose(1, 2)).mul(alpha).softmax(-1).bmm(aRef);
        (plain * upstream).sum().backward();

        // Then: forward and gradient within 1e-5 of the largest magnitude (the fixtures' measure)
        TensorAssert.RelativeToMax(fused, plain, 1e-5, "explicit attention output");
        TensorAssert.RelativeToMax(a.grad!, aRef.grad!, 1e-5, "explicit attention gradient");
        using (no_grad())
            TensorAssert.RelativeToMax(ExplicitAttention.Of(a0, alpha, bits), plain, 1e-5, "explicit attention without autograd");
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void Given_explicit_attention_in_bf16_When_two_training_backwards_run_Then_gradients_match_libtorchs_softmax_path(int bits)
    {
        // Given: the same tiny attention twice, with the vector softmax and with libtorch's
        using var scope = NewDisposeScope();
        using var gen = new Generator(15);
        var a0 = randn(6, 33, 16, generator: gen).to(ScalarType.BFloat16);
        Tensor Grad(bool libtorch)
        {
            var a = a0.detach().requires_grad_(true);
            for (int i = 0; i < 2; i++)       // a second backward releases the first one's returned gradients
            {
                a.grad?.zero_();
                ExplicitAttention.Of(a, 0.25, libtorch ? 0 : bits).to(ScalarType.Float32).pow(2).sum().backward();
                AutogradHandoff.ReleaseAll();
            }
            return a.grad!.to(ScalarType.Float32);
        }

        // When
        var simd = Grad(libtorch: false);
        var reference = Grad(libtorch: true);

        // Then
        double largest = reference.abs().max().item<float>();
        Assert.True((simd - reference).abs().max().item<float>() <= 0.02 * largest);
    }
}
