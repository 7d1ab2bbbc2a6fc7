using CrateMae.Interop;
using TorchSharp;
using static CrateMae.Tests.Interop.InteropTestSupport;
using static TorchSharp.torch;

namespace CrateMae.Tests.Interop;

[Collection(InteropCollection.Name)]
public sealed class StateDictFileTests
{
    [Fact]
    public void Given_mae_checkpoint_When_loaded_Then_equals_plain_state_dict()
    {
        using var scope = torch.NewDisposeScope();
        using var ckpt = StateDictFile.Load(Fixture("crate-mini.mae-checkpoint.pth"));
        using var plain = StateDictFile.Load(Fixture("crate-mini.pth"));
        Assert.True(ckpt.IsCheckpoint);
        Assert.False(plain.IsCheckpoint);
        Assert.Equal(plain.Tensors.Select(t => t.Key), ckpt.Tensors.Select(t => t.Key));
        for (int i = 0; i < plain.Count; i++)
            AssertBitEqual(plain.Tensors[i].Value, ckpt.Tensors[i].Value, plain.Tensors[i].Key);
    }

    [Fact]
    public void Given_mae_checkpoint_When_loaded_Then_args_and_other_entries_available()
    {
        using var scope = torch.NewDisposeScope();
        using var ckpt = StateDictFile.Load(Fixture("crate-mini.mae-checkpoint.pth"));
        Assert.NotNull(ckpt.Args);
        Assert.Equal("mae_crate_mini", ckpt.Args!["model"]);
        Assert.Equal("0.75", ckpt.Args["mask_ratio"]);
        var top = Assert.IsType<PyDict>(ckpt.Checkpoint);
        Assert.Equal(7L, top["epoch"]);
        var args = Assert.IsType<PyDict>(top["args"]);
        Assert.Equal("argparse.Namespace", args.TypeName);

        using var plain = StateDictFile.Load(Fixture("crate-mini.pth"));
        Assert.Null(plain.Args);
    }

    [Fact]
    public void Given_state_dict_When_indexed_Then_key_lookup_and_clear_missing_key_error()
    {
        using var scope = torch.NewDisposeScope();
        using var sd = StateDictFile.Load(Fixture("crate-mini.pth"));
        Assert.Equal(new long[] { 1, 1, 64 }, sd["cls_token"].shape);
        Assert.True(sd.TryGetTensor("pos_embed", out var pos));
        Assert.Equal(new long[] { 1, 17, 64 }, pos!.shape);
        var ex = Assert.Throws<KeyNotFoundException>(() => sd["nope"]);
        Assert.Contains("crate-mini.pth", ex.Message);
    }

    [Fact]
    public void Given_pickle_without_state_dict_When_loaded_Then_clear_error()
    {
        using var scope = torch.NewDisposeScope();
        using var tmp = NewTempFolder();
        var path = tmp.File("io-as-state-dict.pth");
        // a dict holding a non-tensor entry and no 'model'
        var pkl = new PickleBytes().Proto(2).Op('}').Op('(').Str("epoch").Int1(3).Str("optimizer").Op('}').Op('u').Stop().ToArray();
        WriteZip(path, ("x/data.pkl", pkl), ("x/version", "3\n"u8.ToArray()));
        var ex = Assert.Throws<InvalidDataException>(() => StateDictFile.Load(path));
        Assert.Contains(path, ex.Message);
        Assert.Contains("'epoch'", ex.Message);
        Assert.Contains("'model'", ex.Message);
    }
}
