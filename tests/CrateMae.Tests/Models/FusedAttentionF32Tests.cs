using CrateMae.Kernels;
using CrateMae.Tests.Support;
using static TorchSharp.torch;

namespace CrateMae.Tests.Models;

/// <summary>
/// MSSA's float32 per-head attention kernel against the plain computation in float64 (split heads, A Aᵀ·α, softmax, P A,
/// merged heads, and autograd's gradient of it), for token counts with and without a partial last vector (below one
/// vector, the 224-px case, beyond the 6-row and 8-row tiles), every head width the tiles cover (one to four vectors),
/// and head counts that split unevenly over threads, at every vector width this CPU accelerates and with the tiles of
/// both register-file sizes. (The fixture-level check is FastPathTests' Fused variant.)
/// </summary>
public sealed class FusedAttentionF32Tests
{
    private const double Tolerance = 1e-5;

    /// <summary>Batch, tokens, heads, head width; the tiles named are those at 16 lanes (at 8 or 4 lanes the same widths are 2–20 vectors).</summary>
    private static readonly (int B, int N, int K, int D)[] Cases =
    [
        (3, 5, 2, 16),        // N below one vector
        (2, 17, 3, 32),       // the fixtures' token count
        (2, 65, 1, 48),       // one head spanning the width, 8 × 3-vector tiles
        (8, 197, 12, 48),     // crate-small at 224 px, batch 8
        (1, 197, 5, 64),      // 6 × 4-vector tiles; 5 heads over the threads
        (2, 50, 2, 80),       // five vectors: 6 × 4-vector tiles and one-vector columns
    ];

    public static TheoryData<int, int, int, int, int> Shapes()
    {
        var data = new TheoryData<int, int, int, int, int>();
        foreach (var bits in KernelWidths.Accelerated)
        foreach (var (b, n, k, d) in Cases)
            data.Add(bits, b, n, k, d);
        return data;
    }

    public static TheoryData<int> Widths() => KernelWidths.AcceleratedData();

    /// <summary>The reference in float64: y = merge(softmax(α A_k A_kᵀ) A_k), and dL/dA for L = Σ y ⊙ dO.</summary>
    private static (Tensor Y, Tensor Grad) Reference(Tensor a, Tensor dO, int heads, double alpha)
    {
        var (b, n, inner) = (a.shape[0], a.shape[1], a.shape[2]);
        var a64 = a.to(ScalarType.Float64).requires_grad_(true);
        var h = a64.view(b, n, heads, inner / heads).transpose(1, 2);
        var y = h.matmul(h.transpose(-1, -2)).mul(alpha).softmax(-1).matmul(h).transpose(1, 2).reshape(b, n, inner);
        y.backward([dO.to(ScalarType.Float64)]);
        return (y.detach().to(ScalarType.Float32), a64.grad!.to(ScalarType.Float32));
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Given_projected_tokens_When_the_kernel_runs_forward_and_backward_Then_it_equals_the_plain_computation(
        int bits, int batch, int tokens, int heads, int width)
    {
        // Given: A [B, N, K·d] with an offset (scores far from zero) and an incoming gradient
        using var scope = NewDisposeScope();
        using var gen = new Generator(31);
        var a = randn(batch, tokens, heads * width, generator: gen) * 0.8 + 0.1;
        var dO = randn(batch, tokens, heads * width, generator: gen);
        double alpha = 1 / Math.Sqrt(width);
        Assert.True(FusedAttentionF32.Supports(a, heads, bits));
        var (yRef, gradRef) = Reference(a, dO, heads, alpha);

        // When
        var x = a.clone().requires_grad_(true);
        var y = FusedAttentionF32.Of(x, heads, alpha, bits);
        y.backward([dO]);
        AutogradHandoff.ReleaseAll();

        // Then: within the fast path's parity tolerance, merged head-interleaved as the input
        Assert.Equal(a.shape, y.shape);
        TensorAssert.RelativeToMax(y, yRef, Tolerance, "output");
        TensorAssert.RelativeToMax(x.grad!, gradRef, Tolerance, "dA");
        // and the tiles of both register files (16: AVX2's 6 × 2 vectors; 32: 6 × 4 and 8 × 3) bit for bit, since every
        // output element sums over the inner dimension in the same order whatever the tile
        foreach (var registers in new[] { 16, 32 })
        {
            var (o, rowMax, rowInv) = FusedAttentionF32.Forward(a, heads, (float)alpha, bits, registers);
            TensorAssert.Exact(o, y.detach(), $"output, {registers}-register tiles");
            TensorAssert.Exact(FusedAttentionF32.Backward(a, dO, rowMax, rowInv, heads, (float)alpha, bits, registers), x.grad!, $"dA, {registers}-register tiles");
        }
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void Given_no_autograd_When_the_kernel_runs_Then_it_returns_the_training_forward_exactly(int bits)
    {
        // Given
        using var scope = NewDisposeScope();
        using var gen = new Generator(32);
        var a = randn(4, 197, 6 * 48, generator: gen);

        // When: the same input through the autograd function and without gradients
        var withGrad = FusedAttentionF32.Of(a.clone().requires_grad_(true), 6, 0.144, bits);
        Tensor without;
        using (no_grad()) without = FusedAttentionF32.Of(a, 6, 0.144, bits);

        // Then: bit for bit (features and the training forward agree)
        TensorAssert.Exact(without, withGrad.detach(), "no-grad output");
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void Given_inputs_the_kernel_does_not_cover_When_asked_Then_it_declines(int bits)
    {
        using var scope = NewDisposeScope();
        var a = randn(2, 17, 96);
        Assert.True(FusedAttentionF32.Supports(a, 2, bits));                             // d = 48: whole vectors at 4, 8, 16 lanes
        Assert.Equal(bits <= 256, FusedAttentionF32.Supports(a, 4, bits));              // d = 24: whole vectors at 4 and 8 lanes only
        Assert.False(FusedAttentionF32.Supports(a, 16, bits));                            // d = 6: not whole vectors
        Assert.False(FusedAttentionF32.Supports(a, 5, bits));                             // 96 is not 5 heads
        Assert.False(FusedAttentionF32.Supports(a.to(ScalarType.BFloat16), 2, bits));     // bf16: the explicit form
        Assert.False(FusedAttentionF32.Supports(a.transpose(0, 1), 2, bits));             // not contiguous
        Assert.False(FusedAttentionF32.Supports(randn(2, 2049, 32), 2, bits));            // N × N buffers bounded
        Assert.False(FusedAttentionF32.Supports(a, 2, 0));                                // kernels off
    }
}
