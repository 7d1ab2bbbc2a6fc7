using CrateMae.Interop;
using CrateMae.Kernels;
using CrateMae.Models;
using CrateMae.Tests.Support;
using CrateMae.Training;
using static TorchSharp.torch;

namespace CrateMae.Tests.Models;

/// <summary>
/// The fast kernels (SDPA, single-copy explicit or fused attention, addmm-fused and folded ISTA, fused AdamW) against the
/// plain reference ops of <see cref="KernelOptions.ReferenceOps"/>: every variant at every vector width the process
/// allows (<see cref="KernelWidths.Allowed"/>), every fixture case, forward and backward, within 1e-5 of the largest
/// magnitude (the fixtures' measure).
/// </summary>
[Trait("Category", "Parity")]
public sealed class FastPathTests
{
    private const double Tolerance = 1e-5;

    public static TheoryData<string, int, AttentionKernel, IstaForm> Variants()
    {
        var data = new TheoryData<string, int, AttentionKernel, IstaForm>();
        foreach (var c in Fixtures.Cases())
        foreach (var bits in KernelWidths.Allowed)
        foreach (var a in new[] { AttentionKernel.Sdpa, AttentionKernel.Explicit, AttentionKernel.Fused })
        foreach (var i in new[] { IstaForm.Folded, IstaForm.TwoProducts })
        {
            if (c.Config.Kind == BlockKind.Vit && i == IstaForm.TwoProducts) continue;    // ViT has no ISTA
            if (c.Config.Kind == BlockKind.Vit && a == AttentionKernel.Fused) continue;   // MSSA's kernel (tied q, k, v)
            data.Add(c.Name, bits, a, i);
        }
        return data;
    }

    private static (MaeOutput Output, Dictionary<string, Tensor> Grads) Run(MaskedAutoencoder model, Tensor imgs, double ratio, Tensor noise)
    {
        foreach (var p in model.parameters()) { p.grad?.Dispose(); p.grad = null; }
        var output = model.Forward(imgs, ratio, noise);
        output.Loss.backward();
        var grads = model.named_parameters().Where(p => p.parameter.grad is not null)
            .ToDictionary(p => p.name, p => p.parameter.grad!.clone());
        return (output, grads);
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void Given_a_fixture_When_the_fast_variant_runs_forward_and_backward_Then_it_equals_the_reference_path(
        string name, int bits, AttentionKernel attention, IstaForm ista)
    {
        // Given
        var c = Fixtures.Case(name);
        using var scope = NewDisposeScope();
        using var model = c.LoadModel();
        using var io = StateDictFile.Load(c.IoPath);
        var (imgs, noise) = (io["imgs"], io["noise"]);

        // When
        MaeOutput reference, fast;
        Dictionary<string, Tensor> refGrads, fastGrads;
        model.Kernels = KernelOptions.ReferenceOps;
        (reference, refGrads) = Run(model, imgs, c.Ratio, noise);
        model.Kernels = KernelWidths.At(bits) with { Attention = attention, Ista = ista };
        (fast, fastGrads) = Run(model, imgs, c.Ratio, noise);

        // Then
        using (reference)
        using (fast)
        {
            string v = $"{name} {bits}-bit {attention}/{ista}";
            TensorAssert.RelativeToMax(fast.Loss.reshape(1), reference.Loss.reshape(1), Tolerance, $"{v} loss");
            TensorAssert.RelativeToMax(fast.Pred, reference.Pred, Tolerance, $"{v} pred");
            TensorAssert.RelativeToMax(fast.Latent, reference.Latent, Tolerance, $"{v} latent");
            Assert.Equal(refGrads.Keys.Order(), fastGrads.Keys.Order());
            foreach (var (key, g) in refGrads)
                TensorAssert.RelativeToMax(fastGrads[key], g, Tolerance, $"{v} grad.{key}");
            // and against the official code's numbers
            TensorAssert.RelativeToMax(fast.Pred, io["pred"], Tolerance, $"{v} pred vs fixture");
        }
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void Given_a_fixture_When_extracting_features_without_gradients_Then_the_fast_variant_equals_the_reference(
        string name, int bits, AttentionKernel attention, IstaForm ista)
    {
        var c = Fixtures.Case(name);
        using var scope = NewDisposeScope();
        using var model = c.LoadModel();
        using var io = StateDictFile.Load(c.IoPath);
        using var noGrad = no_grad();
        Tensor reference, fast;
        model.Kernels = KernelOptions.ReferenceOps;
        reference = model.ForwardFeatures(io["imgs"]);
        model.Kernels = KernelWidths.At(bits) with { Attention = attention, Ista = ista };
        fast = model.ForwardFeatures(io["imgs"]);
        TensorAssert.RelativeToMax(fast, reference, Tolerance, $"{name} {bits}-bit {attention}/{ista} features");
    }

    public static TheoryData<int, AttentionKernel> WidthsAndAttention()
    {
        var data = new TheoryData<int, AttentionKernel>();
        foreach (var bits in KernelWidths.Allowed)
        foreach (var a in new[] { AttentionKernel.Sdpa, AttentionKernel.Explicit, AttentionKernel.Fused })
            data.Add(bits, a);
        return data;
    }

    [Theory]
    [MemberData(nameof(WidthsAndAttention))]
    public void Given_one_head_spanning_the_width_When_the_fast_path_runs_Then_it_equals_the_reference(int bits, AttentionKernel attention)
    {
        // The official code drops to_out when K = 1 and d_h = D; the fast path then must not add in place.
        using var scope = NewDisposeScope();
        var config = new MaeConfig
        {
            Name = "one-head", ImgSize = 16, PatchSize = 4, InChans = 3, EmbedDim = 32, Depth = 2, NumHeads = 1,
            DecoderEmbedDim = 32, DecoderDepth = 1, DecoderNumHeads = 1,
        };
        using var model = new MaskedAutoencoder(config, new Generator(3));
        var imgs = randn(4, 3, 16, 16, generator: new Generator(4));
        var noise = rand(4, 16, generator: new Generator(5));
        MaeOutput reference, fast;
        Dictionary<string, Tensor> refGrads, fastGrads;
        model.Kernels = KernelOptions.ReferenceOps;
        (reference, refGrads) = Run(model, imgs, 0.75, noise);
        model.Kernels = KernelWidths.At(bits) with { Attention = attention, Ista = IstaForm.Folded };
        (fast, fastGrads) = Run(model, imgs, 0.75, noise);
        using (reference)
        using (fast)
        {
            TensorAssert.RelativeToMax(fast.Pred, reference.Pred, Tolerance, "one-head pred");
            foreach (var (key, g) in refGrads)
                TensorAssert.RelativeToMax(fastGrads[key], g, Tolerance, $"one-head grad.{key}");
        }
    }

    [Theory]
    [InlineData(ScalarType.Float32, true, true, AttentionKernel.Explicit)]    // MSSA training: no q/k/v gradient sum, row softmax
    [InlineData(ScalarType.Float32, false, true, AttentionKernel.Sdpa)]       // MSSA inference: the flash kernel
    [InlineData(ScalarType.Float32, true, false, AttentionKernel.Sdpa)]       // ViT: separate q, k, v, plain explicit form
    [InlineData(ScalarType.BFloat16, true, true, AttentionKernel.Explicit)]
    [InlineData(ScalarType.BFloat16, false, true, AttentionKernel.Explicit)]
    public void Given_a_dtype_and_autograd_When_the_attention_kernel_is_chosen_Then_it_is_the_measured_faster_one(
        ScalarType dtype, bool grad, bool tiedQkv, AttentionKernel expected)
    {
        var off = KernelWidths.At(0);
        foreach (var bits in KernelWidths.Accelerated)
        {
            var on = KernelWidths.At(bits);
            // Off the CPU the fused kernel is always the choice (our row kernels are CPU-only).
            Assert.Equal(AttentionKernel.Sdpa, on.ResolveAttention(dtype, grad, tiedQkv, tokens: 65, device: TorchSharp.DeviceType.CUDA, headWidth: 48));
            // A head width that is not a whole number of vectors at any width (30): the rules before our fp32 kernel.
            Assert.Equal(expected, on.ResolveAttention(dtype, grad, tiedQkv, tokens: 65, headWidth: 30));
            // Long fp32 sequences keep the flash kernel, whose memory grows as N, not N².
            if (dtype == ScalarType.Float32)
                Assert.Equal(AttentionKernel.Sdpa, on.ResolveAttention(dtype, grad, tiedQkv, tokens: KernelOptions.MaxExplicitFloat32Tokens + 1, headWidth: 30));
            // Whole-vector head widths: fp32 MSSA takes our per-head kernel at 16 lanes at any length, with or without
            // autograd; at 8 lanes with autograd; at 4 lanes with autograd on sequences up to 128 tokens.
            foreach (long tokens in new long[] { 17, 65, 197 })
            foreach (long width in new long[] { 16, 32, 48, 64 })
            {
                bool fused = dtype == ScalarType.Float32 && tiedQkv
                    && (bits >= 512 || (grad && (bits >= 256 || tokens <= KernelOptions.MaxExplicitFloat32Tokens)));
                var otherwise = dtype == ScalarType.Float32 && tokens > KernelOptions.MaxExplicitFloat32Tokens ? AttentionKernel.Sdpa : expected;
                Assert.Equal(fused ? AttentionKernel.Fused : otherwise, on.ResolveAttention(dtype, grad, tiedQkv, tokens: tokens, headWidth: width));
            }
        }
        // With the vector kernels off, libtorch's flash kernel except for bf16 training.
        Assert.Equal(AttentionKernel.Sdpa, off.ResolveAttention(dtype, grad, tiedQkv, tokens: 65, device: TorchSharp.DeviceType.CUDA, headWidth: 48));
        Assert.Equal(dtype == ScalarType.Float32 || !grad ? AttentionKernel.Sdpa : AttentionKernel.Explicit,
            off.ResolveAttention(dtype, grad, tiedQkv, tokens: 65, headWidth: 48));
    }

    [Theory]
    [InlineData(ScalarType.Float32, 1e-5)]
    [InlineData(ScalarType.BFloat16, 1e-2)]     // both forms round the bf16 product once; they differ in summation order
    public void Given_non_square_images_When_patches_are_embedded_by_one_GEMM_Then_tokens_and_gradients_equal_the_convolution(
        ScalarType precision, double tolerance)
    {
        // Given: 3 channels, 12×20 pixels in 4×4 patches (a 3×5 grid: rows and columns must not be confused)
        using var scope = NewDisposeScope();
        var embed = new PatchEmbed(4, 3, 16);
        var imgs = randn(2, 3, 12, 20, generator: new Generator(21));
        var upstream = randn(2, 15, 16, generator: new Generator(22));

        (Tensor Tokens, Tensor WeightGrad, Tensor BiasGrad) Embed(bool conv)
        {
            embed.zero_grad();
            using var dtype = MatmulPrecision.Use(precision);
            embed.Kernels = KernelOptions.Default with { ConvPatchEmbed = conv };
            var tokens = embed.forward(imgs);
            (tokens * upstream).sum().backward();
            return (tokens.detach(), embed.Weight.grad!.clone(), embed.Bias.grad!.clone());
        }

        // When
        var gemm = Embed(conv: false);
        var conv = Embed(conv: true);

        // Then
        Assert.Equal([2L, 15, 16], gemm.Tokens.shape);
        Assert.Equal(ScalarType.Float32, gemm.Tokens.dtype);
        TensorAssert.RelativeToMax(gemm.Tokens, conv.Tokens, tolerance, $"{precision} tokens");
        TensorAssert.RelativeToMax(gemm.WeightGrad, conv.WeightGrad, tolerance, $"{precision} weight gradient");
        TensorAssert.RelativeToMax(gemm.BiasGrad, conv.BiasGrad, tolerance, $"{precision} bias gradient");
    }

    [Fact]
    public void Given_the_torchsharp_baddbmm_binding_When_called_through_Products_Then_it_computes_beta_input_plus_alpha_product()
    {
        using var scope = NewDisposeScope();
        var input = randn(2, 3, 4);
        var b1 = randn(2, 3, 5);
        var b2 = randn(2, 5, 4);
        var expected = input * 0.5 + b1.bmm(b2) * 2;
        TensorAssert.RelativeToMax(Products.Baddbmm(input, b1, b2, 0.5f, 2f), expected, 1e-6, "baddbmm");
    }

    [Fact]
    public void Given_the_fused_AdamW_kernel_When_stepping_a_model_Then_parameters_and_moments_track_the_per_op_form()
    {
        Assert.True(FusedAdamWKernel.Available, "libtorch's _fused_adamw_ was not found: the fused path would silently fall back");
        using var scope = NewDisposeScope();
        var config = Presets.Get("crate-fmnist") with { Depth = 2, DecoderDepth = 1 };
        using var a = new MaskedAutoencoder(config, new Generator(11));
        using var b = new MaskedAutoencoder(config, new Generator(11));
        using (no_grad())
            foreach (var ((_, pa), (_, pb)) in a.named_parameters().Zip(b.named_parameters())) pb.copy_(pa);
        using var fused = new AdamW(ParamGroups.WeightDecaySplit(a, 0.05), fused: true);
        using var plain = new AdamW(ParamGroups.WeightDecaySplit(b, 0.05), fused: false);
        var imgs = randn(8, 1, 28, 28, generator: new Generator(12));
        for (int step = 0; step < 5; step++)
        {
            using var stepScope = NewDisposeScope();
            var noise = rand(8, config.NumPatches, generator: new Generator((ulong)(100 + step)));
            double la = TrainingStep.Run(a, fused, imgs, noise, 0.75, null, 1e-3);
            double lb = TrainingStep.Run(b, plain, imgs, noise, 0.75, null, 1e-3);
            Assert.Equal(lb, la, 4);
        }
        foreach (var ((key, pa), (_, pb)) in a.named_parameters().Zip(b.named_parameters()))
            TensorAssert.RelativeToMax(pa, pb, 1e-5, $"parameter {key} after 5 fused vs per-op AdamW steps");
        var (fa, sa) = fused.State();
        var (fb, sb) = plain.State();
        Assert.Equal(sb.OrderBy(kv => kv.Key), sa.OrderBy(kv => kv.Key));
        var fbByKey = fb.ToDictionary(t => t.Key, t => t.Value);
        foreach (var (key, value) in fa)
            TensorAssert.RelativeToMax(value, fbByKey[key], 1e-5, $"optimizer state {key}");
    }
}
