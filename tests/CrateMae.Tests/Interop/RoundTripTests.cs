using System.IO.Compression;
using CrateMae.Interop;
using TorchSharp;
using static CrateMae.Tests.Interop.InteropTestSupport;
using static TorchSharp.torch;

namespace CrateMae.Tests.Interop;

[Collection(InteropCollection.Name)]
public sealed class RoundTripTests
{
    [Fact]
    public void Given_fixture_pth_When_saved_and_reloaded_Then_bit_for_bit_equal()
    {
        using var scope = torch.NewDisposeScope();
        using var tmp = NewTempFolder();
        using var original = StateDictFile.Load(Fixture("vit-mini.pth"));
        var path = tmp.File("copy.pth");
        PyTorchFile.SaveStateDict(path, original.Tensors);
        using var again = StateDictFile.Load(path);
        Assert.Equal(original.Tensors.Select(t => t.Key), again.Tensors.Select(t => t.Key));
        for (int i = 0; i < original.Count; i++)
            AssertBitEqual(original.Tensors[i].Value, again.Tensors[i].Value, original.Tensors[i].Key);

        // and once more: C# → .pth → C# is a fixed point
        var path2 = tmp.File("copy2.pth");
        PyTorchFile.SaveStateDict(path2, again.Tensors);
        Assert.Equal(File.ReadAllBytes(path), File.ReadAllBytes(path2));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Given_every_dtype_When_pth_round_trip_Then_bit_for_bit_equal(bool forceZip64)
    {
        using var scope = torch.NewDisposeScope();
        using var tmp = NewTempFolder();
        var tensors = AllDtypeTensors();
        var path = tmp.File("dtypes.pth");
        PyTorchFile.SaveStateDict(path, tensors, forceZip64);
        var zip64EndRecord = new byte[] { (byte)'P', (byte)'K', 6, 6 };
        Assert.Equal(forceZip64, File.ReadAllBytes(path).AsSpan().IndexOf(zip64EndRecord) >= 0);
        var back = Assert.IsType<PyDict>(PyTorchFile.Load(path));
        Assert.Equal(tensors.Select(t => (object)t.Key), back.Keys);
        foreach (var (key, value) in tensors) AssertBitEqual(value, (Tensor)back[key]!, key);
    }

    [Fact]
    public void Given_every_dtype_When_safetensors_round_trip_Then_bit_for_bit_equal_with_metadata()
    {
        using var scope = torch.NewDisposeScope();
        using var tmp = NewTempFolder();
        var tensors = AllDtypeTensors();
        var meta = new Dictionary<string, string> { ["format"] = "pt", ["config"] = "{\"dim\": 64, \"name\": \"crate-mini ✓\"}" };
        var path = tmp.File("dtypes.safetensors");
        Safetensors.Save(path, tensors, meta);
        using var back = Safetensors.Load(path);
        Assert.Equal(tensors.Select(t => t.Key), back.Tensors.Select(t => t.Key));
        for (int i = 0; i < tensors.Count; i++) AssertBitEqual(tensors[i].Value, back.Tensors[i].Value, tensors[i].Key);
        Assert.Equal(meta, back.Metadata);
        Assert.Equal(0, BitConverter.ToInt64(File.ReadAllBytes(path), 0) % 8);
    }

    [Fact]
    public void Given_special_float_values_When_round_tripped_Then_bytes_identical()
    {
        using var scope = torch.NewDisposeScope();
        using var tmp = NewTempFolder();
        var values = new[] { float.NaN, -0.0f, 0.0f, float.PositiveInfinity, float.NegativeInfinity, float.Epsilon, float.MaxValue };
        var list = new List<(string, Tensor)>
        {
            ("f32", torch.tensor(values)),
            ("f16", torch.tensor(values).to(ScalarType.Float16)),
            ("bf16", torch.tensor(values).to(ScalarType.BFloat16)),
            ("f64", torch.tensor(values).to(ScalarType.Float64)),
        };
        PyTorchFile.SaveStateDict(tmp.File("s.pth"), list);
        Safetensors.Save(tmp.File("s.safetensors"), list);
        var pth = (PyDict)PyTorchFile.Load(tmp.File("s.pth"))!;
        using var st = Safetensors.Load(tmp.File("s.safetensors"));
        for (int i = 0; i < list.Count; i++)
        {
            AssertBitEqual(list[i].Item2, (Tensor)pth[list[i].Item1]!, list[i].Item1 + " (.pth)", compareValues: false);
            AssertBitEqual(list[i].Item2, st.Tensors[i].Value, list[i].Item1 + " (.safetensors)", compareValues: false);
        }
    }

    [Fact]
    public void Given_requires_grad_flags_When_pth_round_trip_Then_flags_kept()
    {
        using var scope = torch.NewDisposeScope();
        using var tmp = NewTempFolder();
        var w = torch.randn(3, 2).requires_grad_(true);
        var b = torch.randn(2);
        PyTorchFile.SaveStateDict(tmp.File("g.pth"), new[] { ("w", w), ("b", b) });
        var back = (PyDict)PyTorchFile.Load(tmp.File("g.pth"))!;
        Assert.True(((Tensor)back["w"]!).requires_grad);
        Assert.False(((Tensor)back["b"]!).requires_grad);
    }

    [Fact]
    public void Given_saved_pth_When_inspected_Then_zip_is_stored_aligned_and_single_folder()
    {
        using var scope = torch.NewDisposeScope();
        using var tmp = NewTempFolder();
        var path = tmp.File("a.pth");
        PyTorchFile.SaveStateDict(path, AllDtypeTensors());
        var bytes = File.ReadAllBytes(path);
        using var zip = ZipFile.OpenRead(path);
        Assert.All(zip.Entries, e => Assert.StartsWith("archive/", e.FullName));
        Assert.Contains(zip.Entries, e => e.FullName == "archive/data.pkl");
        Assert.Contains(zip.Entries, e => e.FullName == "archive/version");
        foreach (var e in zip.Entries.Where(e => e.FullName.StartsWith("archive/data/", StringComparison.Ordinal)))
        {
            Assert.Equal(e.Length, e.CompressedLength);
            // find the local header and check the data offset is 64-byte aligned
            var name = System.Text.Encoding.ASCII.GetBytes(e.FullName);
            int at = bytes.AsSpan().IndexOf(name) - 30;
            int dataStart = at + 30 + BitConverter.ToUInt16(bytes, at + 26) + BitConverter.ToUInt16(bytes, at + 28);
            Assert.Equal(0, dataStart % 64);
        }
    }

    [Fact]
    public void Given_existing_file_When_saving_Then_replaced_atomically_without_leftovers()
    {
        using var scope = torch.NewDisposeScope();
        using var tmp = NewTempFolder();
        var path = tmp.File("m.pth");
        File.WriteAllText(path, "old");
        PyTorchFile.SaveStateDict(path, new[] { ("x", torch.ones(2)) });
        Safetensors.Save(tmp.File("m.safetensors"), new[] { ("x", torch.ones(2)) });
        Assert.Equal(new[] { "m.pth", "m.safetensors" }, Directory.GetFiles(tmp.Path).Select(Path.GetFileName).Order().ToArray());
        Assert.IsType<PyDict>(PyTorchFile.Load(path));

        // a failing save (unsupported dtype) leaves the old file and no temp file
        var complex = torch.zeros(2, dtype: ScalarType.ComplexFloat32);
        Assert.Throws<NotSupportedException>(() => PyTorchFile.SaveStateDict(path, new[] { ("c", complex) }));
        Assert.Throws<NotSupportedException>(() => Safetensors.Save(tmp.File("m.safetensors"), new[] { ("c", complex) }));
        Assert.Equal(2, Directory.GetFiles(tmp.Path).Length);
        Assert.IsType<PyDict>(PyTorchFile.Load(path));
    }

    [Fact]
    public void Given_repeated_key_When_saving_Then_argument_error_names_key()
    {
        using var scope = torch.NewDisposeScope();
        using var tmp = NewTempFolder();
        var ex = Assert.Throws<ArgumentException>(() => PyTorchFile.SaveStateDict(tmp.File("d.pth"), new[] { ("a", torch.ones(1)), ("a", torch.ones(1)) }));
        Assert.Contains("'a'", ex.Message);
        Assert.Throws<ArgumentException>(() => Safetensors.Save(tmp.File("d.safetensors"), new[] { ("a", torch.ones(1)), ("a", torch.ones(1)) }));
        Assert.Empty(Directory.GetFiles(tmp.Path));
    }

    [Fact]
    public void Given_many_loads_When_in_dispose_scope_Then_no_tensor_leak()
    {
        using var tmp = NewTempFolder();
        var path = tmp.File("a.safetensors");
        using (var s0 = torch.NewDisposeScope()) Safetensors.Save(path, AllDtypeTensors());
        long before;
        using (var warm = torch.NewDisposeScope())
        {
            _ = PyTorchFile.Load(Fixture("tensor-views.pth"));
            using var _st = Safetensors.Load(path);
        }
        before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        for (int i = 0; i < 3; i++)
        {
            using var scope = torch.NewDisposeScope();
            _ = PyTorchFile.Load(Fixture("tensor-views.pth"));
            using var st = Safetensors.Load(path);
        }
        Assert.Equal(before, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }
}
