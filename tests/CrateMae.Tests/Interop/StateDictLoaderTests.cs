using CrateMae.Interop;
using TorchSharp;
using static CrateMae.Tests.Interop.InteropTestSupport;
using static TorchSharp.torch;

namespace CrateMae.Tests.Interop;

[Collection(InteropCollection.Name)]
public sealed class StateDictLoaderTests
{
    [Fact]
    public void Given_matching_tensors_When_loaded_into_linear_Then_values_copied_and_requires_grad_kept()
    {
        using var scope = torch.NewDisposeScope();
        var lin = nn.Linear(3, 2);
        lin.bias!.requires_grad_(false); // frozen, like pos_embed
        var w = torch.arange(6, dtype: ScalarType.Float64).reshape(2, 3); // float64 → converted to float32
        var b = torch.tensor(new[] { 7f, 8f });
        StateDictLoader.LoadInto(lin, new[] { ("weight", w), ("bias", b) }, "tiny.pth");
        Assert.Equal(ScalarType.Float32, lin.weight!.dtype);
        Assert.True(lin.weight.eq(w.to(ScalarType.Float32)).all().item<bool>());
        Assert.True(lin.bias.eq(b).all().item<bool>());
        Assert.True(lin.weight.requires_grad);
        Assert.False(lin.bias.requires_grad);
        // training still works: gradients reach the weight
        lin.forward(torch.ones(1, 3)).sum().backward();
        Assert.NotNull(lin.weight.grad);
    }

    [Fact]
    public void Given_missing_extra_and_misshaped_keys_When_loaded_Then_one_exception_lists_all_and_nothing_copied()
    {
        using var scope = torch.NewDisposeScope();
        var lin = nn.Linear(3, 2);
        var before = Bytes(lin.weight!);
        var ex = Assert.Throws<StateDictMismatchException>(() => StateDictLoader.LoadInto(lin, new[]
        {
            ("weight", torch.zeros(2, 4)),
            ("extra.weight", torch.zeros(1)),
            ("weight", torch.zeros(2, 3)),
        }, "/models/broken.pth"));
        Assert.Contains("/models/broken.pth", ex.Message);
        Assert.Contains("missing keys (1): bias", ex.Message);
        Assert.Contains("unexpected keys (1): extra.weight", ex.Message);
        Assert.Contains("repeated keys (1): weight", ex.Message);
        Assert.Contains("weight expected [2, 3] found [2, 4]", ex.Message);
        Assert.Equal(new[] { "bias" }, ex.Missing);
        Assert.Equal(new[] { "extra.weight" }, ex.Unexpected);
        Assert.Single(ex.Misshaped);
        Assert.Equal(before, Bytes(lin.weight!));
    }

    [Fact]
    public void Given_exported_module_When_saved_and_loaded_into_fresh_module_Then_identical()
    {
        using var scope = torch.NewDisposeScope();
        using var tmp = NewTempFolder();
        var seq = nn.Sequential(("fc1", nn.Linear(4, 8)), ("act", nn.ReLU()), ("fc2", nn.Linear(8, 2)));
        var exported = StateDictLoader.Export(seq);
        Assert.Equal(new[] { "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias" }, exported.Select(e => e.Key).ToArray());
        Assert.All(exported, e => Assert.False(e.Value.requires_grad));

        foreach (var (file, save) in new (string, Action<string>)[]
                 {
                     ("m.pth", p => PyTorchFile.SaveStateDict(p, exported)),
                     ("m.safetensors", p => Safetensors.Save(p, exported)),
                 })
        {
            var path = tmp.File(file);
            save(path);
            var fresh = nn.Sequential(("fc1", nn.Linear(4, 8)), ("act", nn.ReLU()), ("fc2", nn.Linear(8, 2)));
            using var sd = StateDictFile.Load(path);
            StateDictLoader.LoadInto(fresh, sd.Tensors, path);
            var x = torch.randn(5, 4);
            AssertBitEqual(seq.forward(x), fresh.forward(x), file);
            Assert.All(fresh.parameters(), p => Assert.True(p.requires_grad));
        }
    }

    [Fact]
    public void Given_export_When_module_changes_later_Then_export_is_a_snapshot()
    {
        using var scope = torch.NewDisposeScope();
        var lin = nn.Linear(2, 2);
        var exported = StateDictLoader.Export(lin);
        var snapshot = Bytes(exported[0].Value);
        using (torch.no_grad()) lin.weight!.add_(1);
        Assert.Equal(snapshot, Bytes(exported[0].Value));
    }
}
