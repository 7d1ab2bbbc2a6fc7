using CrateMae.Analysis;
using CrateMae.Interop;
using CrateMae.Models;
using CrateMae.Tests.Support;
using static TorchSharp.torch;

namespace CrateMae.Tests.Analysis;

/// <summary>
/// The analysis path against the official implementation: <see cref="LayerProbe.AttentionMaps"/> →
/// <see cref="AttentionSaliency.ClsMaps"/> must equal the cls row of the fixtures' <c>attn_last</c> over the patch
/// columns, laid out row-major on the patch grid (the model-level attn_last parity is in ParityTests).
/// </summary>
public sealed class AttentionFixtureTests
{
    public static TheoryData<string> CrateCases()
    {
        var data = new TheoryData<string>();
        foreach (var c in Fixtures.Cases().Where(c => c.Config.Kind == BlockKind.Crate)) data.Add(c.Name);
        return data;
    }

    [Theory]
    [MemberData(nameof(CrateCases))]
    public void Given_official_weights_When_cls_maps_through_the_probe_Then_equal_attn_last_row_zero(string name)
    {
        // Given
        AnalysisTestSupport.Init();
        var c = Fixtures.Case(name);
        using var scope = NewDisposeScope();
        using var model = c.LoadModel();
        using var io = StateDictFile.Load(c.IoPath);
        var imgs = io["imgs"];
        int g = c.Config.ImgSize / c.Config.PatchSize;

        // When
        var probe = new LayerProbe(model);
        var attention = probe.AttentionMaps(imgs);
        var maps = ClsAttention.Maps(probe, imgs, c.Config.Depth);

        // Then
        var expected = io["attn_last"][.., .., 0, 1..].reshape(imgs.shape[0], -1, g, g);
        TensorAssert.RelativeToMax(maps, expected, 1e-5, $"{name} cls maps");
        TensorAssert.RelativeToMax(attention.sum(-1), ones_like(attention.sum(-1)), 1e-5, $"{name} attention rows sum to 1");
    }
}
