using CrateMae.Interop;
using CrateMae.Models;
using CrateMae.Tests.Support;
using static TorchSharp.torch;

namespace CrateMae.Tests.Models;

/// <summary>
/// Bit-faithfulness to the official PyTorch CRATE-MAE: every case of the fixtures' cases.json, forward and backward,
/// at the fixtures' tolerances (max|Δ|/max|ref| ≤ 1e-5; mask and ids_restore exact).
/// </summary>
[Trait("Category", "Parity")]
public sealed class ParityTests
{
    private const double Tolerance = 1e-5;

    public static TheoryData<string> Cases => Fixtures.CaseNames();

    [Theory]
    [MemberData(nameof(Cases))]
    public void Given_official_weights_and_noise_When_forward_and_backward_Then_every_output_and_gradient_matches(string name)
    {
        // Given
        var c = Fixtures.Case(name);
        using var scope = NewDisposeScope();
        using var model = c.LoadModel();
        using var io = StateDictFile.Load(c.IoPath);

        // When
        using var output = model.Forward(io["imgs"], c.Ratio, io["noise"]);
        output.Loss.backward();

        // Then
        TensorAssert.Exact(output.Mask, io["mask"], $"{name} mask");
        TensorAssert.Exact(output.IdsRestore, io["ids_restore"], $"{name} ids_restore");
        TensorAssert.RelativeToMax(output.Loss.reshape(1), io["loss"].reshape(1), Tolerance, $"{name} loss");
        Assert.Equal(c.Loss, output.Loss.item<float>(), 5);
        TensorAssert.RelativeToMax(output.Pred, io["pred"], Tolerance, $"{name} pred");
        TensorAssert.RelativeToMax(output.Latent, io["latent"], Tolerance, $"{name} latent");

        var expectedGrads = io.Tensors.Where(t => t.Key.StartsWith("grad.", StringComparison.Ordinal))
            .ToDictionary(t => t.Key["grad.".Length..], t => t.Value);
        Assert.NotEmpty(expectedGrads);
        foreach (var (key, p) in model.named_parameters())
        {
            if (expectedGrads.TryGetValue(key, out var expected))
            {
                Assert.True(p.grad is not null, $"{name}: no gradient for {key}");
                TensorAssert.RelativeToMax(p.grad!, expected, Tolerance, $"{name} grad.{key}");
            }
            else
            {
                // Frozen tables and the unused decoder_embed receive no gradient in the reference.
                Assert.True(p.grad is null || p.grad.abs().max().item<float>() == 0, $"{name}: unexpected gradient for {key}");
            }
        }
        var ours = model.named_parameters().Select(p => p.name).ToHashSet();
        foreach (var k in expectedGrads.Keys) Assert.True(ours.Contains(k), $"{name}: fixture has a gradient for {k}, which the model lacks");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Given_official_weights_When_attention_of_last_layer_on_unmasked_path_Then_equals_attn_last(string name)
    {
        var c = Fixtures.Case(name);
        using var scope = NewDisposeScope();
        using var model = c.LoadModel();
        using var io = StateDictFile.Load(c.IoPath);
        if (!io.TryGetTensor("attn_last", out var expected))
        {
            Assert.Equal(BlockKind.Vit, c.Config.Kind);    // only CRATE cases carry attention maps
            return;
        }
        using var _ = no_grad();
        var attn = model.AttentionMaps(io["imgs"]);
        TensorAssert.RelativeToMax(attn, expected!, Tolerance, $"{name} attn_last");
        TensorAssert.RelativeToMax(attn.sum(-1), ones_like(attn.sum(-1)), 1e-5, $"{name} attention rows sum to 1");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Given_a_case_config_When_built_Then_keys_shapes_order_and_counts_equal_the_fixture(string name)
    {
        var c = Fixtures.Case(name);
        using var model = new MaskedAutoencoder(c.Config);
        using var weights = StateDictFile.Load(c.StateDictPath);

        var ours = model.OrderedStateDict();
        Assert.Equal(weights.Tensors.Select(t => t.Key), ours.Select(t => t.Key));
        foreach (var ((key, mine), (_, theirs)) in ours.Zip(weights.Tensors))
            Assert.True(mine.shape.SequenceEqual(theirs.shape), $"{name} {key}: [{string.Join(", ", mine.shape)}] vs [{string.Join(", ", theirs.shape)}]");

        long total = model.parameters().Sum(p => p.numel());
        long trainable = model.parameters().Where(p => p.requires_grad).Sum(p => p.numel());
        Assert.Equal(c.ParamsTotal, total);
        Assert.Equal(c.ParamsTrainable, trainable);
        var analytic = ParameterCount.Of(c.Config);
        Assert.Equal(c.ParamsTotal, analytic.Total);
        Assert.Equal(c.ParamsTrainable, analytic.Trainable);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Given_a_fresh_model_When_built_Then_its_sin_cos_tables_equal_the_reference_within_1e_5(string name)
    {
        var c = Fixtures.Case(name);
        using var model = new MaskedAutoencoder(c.Config);
        using var weights = StateDictFile.Load(c.StateDictPath);
        var sd = model.state_dict();
        foreach (var key in new[] { "pos_embed", "decoder_pos_embed" })
        {
            double err = (sd[key] - weights[key]).abs().max().item<float>();
            Assert.True(err <= 1e-5, $"{name} {key}: max|Δ| = {err}");
        }
    }

    [Fact]
    public void Given_an_MAE_style_checkpoint_When_loaded_with_a_user_config_Then_it_reproduces_the_plain_state_dict_results()
    {
        var c = Fixtures.Case("crate-mini");
        var path = Fixtures.PathOf("crate-mini.mae-checkpoint.pth");
        using var scope = NewDisposeScope();
        using var model = new MaskedAutoencoder(c.Config);
        using var ckpt = StateDictFile.Load(path);
        Assert.True(ckpt.IsCheckpoint);
        Assert.Equal("mae_crate_mini", ckpt.Args!["model"]);
        StateDictLoader.LoadInto(model, ckpt.Tensors, path);
        using var io = StateDictFile.Load(c.IoPath);
        using var output = model.Forward(io["imgs"], c.Ratio, io["noise"]);
        TensorAssert.RelativeToMax(output.Pred, io["pred"], Tolerance, "pred from MAE checkpoint");
        // Loaded parameters stay trainable; the frozen tables stay frozen.
        foreach (var (key, p) in model.named_parameters())
            Assert.Equal(key is not ("pos_embed" or "decoder_pos_embed"), p.requires_grad);
    }
}
