using System.Text.Json;
using CrateMae.Interop;
using TorchSharp;
using static CrateMae.Tests.Interop.InteropTestSupport;
using static TorchSharp.torch;

namespace CrateMae.Tests.Interop;

[Collection(InteropCollection.Name)]
public sealed class PyTorchFileLoadTests
{
    public static IEnumerable<object[]> Cases()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Fixture("cases.json")));
        foreach (var c in doc.RootElement.EnumerateObject()) yield return new object[] { c.Name };
    }

    private static PyDict LoadDict(string path) => Assert.IsType<PyDict>(PyTorchFile.Load(path));

    [Fact]
    public void Given_tensor_views_When_loaded_Then_equal_expected()
    {
        using var scope = torch.NewDisposeScope();
        var views = LoadDict(Fixture("tensor-views.pth"));
        var expected = LoadDict(Fixture("tensor-views.expected.pth"));
        Assert.Equal(expected.Keys.ToArray(), views.Keys.ToArray());
        Assert.Equal(new object[] { "slice", "transposed", "row", "whole" }, views.Keys.ToArray());
        foreach (var (key, value) in expected)
        {
            var actual = Assert.IsType<Tensor>(views[key]);
            Assert.True(actual.is_contiguous(), $"{key} is not contiguous");
            AssertBitEqual((Tensor)value!, actual, (string)key);
        }
    }

    [Fact]
    public void Given_tensor_views_When_loaded_Then_views_do_not_share_memory()
    {
        using var scope = torch.NewDisposeScope();
        var views = LoadDict(Fixture("tensor-views.pth"));
        var whole = (Tensor)views["whole"]!;
        var before = Bytes((Tensor)views["row"]!);
        whole.add_(1);
        Assert.Equal(before, Bytes((Tensor)views["row"]!));
    }

    [Fact]
    public void Given_two_whole_views_of_one_storage_When_loaded_Then_independent_tensors()
    {
        using var tmp = NewTempFolder();
        var pkl = StateDictPickleWriter.Write(new[]
        {
            new StateDictPickleWriter.Item("a", "FloatStorage", "0", 4, new long[] { 4 }, new long[] { 1 }, false),
            new StateDictPickleWriter.Item("b", "FloatStorage", "0", 4, new long[] { 2, 2 }, new long[] { 2, 1 }, false),
        });
        var path = tmp.File("shared.pth");
        WriteZip(path, ("m/data.pkl", pkl), ("m/data/0", new byte[16]), ("m/version", "3\n"u8.ToArray()));
        using var scope = torch.NewDisposeScope();
        var d = LoadDict(path);
        var a = (Tensor)d["a"]!;
        var b = (Tensor)d["b"]!;
        a.add_(1);
        Assert.Equal(new[] { 1f, 1f, 1f, 1f }, a.data<float>().ToArray());
        Assert.Equal(new[] { 0f, 0f, 0f, 0f }, b.data<float>().ToArray());
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Given_case_from_cases_json_When_loaded_Then_state_dict_and_io_tensors_read(string name)
    {
        using var scope = torch.NewDisposeScope();
        using var doc = JsonDocument.Parse(File.ReadAllText(Fixture("cases.json")));
        var c = doc.RootElement.GetProperty(name);

        var sd = LoadDict(Fixture(name + ".pth"));
        Assert.Equal("collections.OrderedDict", sd.TypeName);
        Assert.True(sd.Attributes.ContainsKey("_metadata"));
        long total = 0;
        foreach (var (key, value) in sd)
        {
            Assert.IsType<string>(key);
            var t = Assert.IsType<Tensor>(value);
            Assert.Equal(ScalarType.Float32, t.dtype);
            Assert.True(t.is_contiguous());
            Assert.Equal(DeviceType.CPU, t.device_type);
            Assert.True(torch.isfinite(t).all().item<bool>(), $"{name}: {key} not finite");
            total += t.numel();
        }
        Assert.Equal(c.GetProperty("params_total").GetInt64(), total);
        Assert.Contains("pos_embed", sd.Keys);

        var io = LoadDict(Fixture(name + ".io.pth"));
        long b = c.GetProperty("batch").GetInt64(), ch = c.GetProperty("chans").GetInt64();
        long s = c.GetProperty("img").GetInt64(), l = c.GetProperty("num_patches").GetInt64();
        var imgs = (Tensor)io["imgs"]!;
        Assert.Equal(ScalarType.Float32, imgs.dtype);
        Assert.Equal(new[] { b, ch, s, s }, imgs.shape);
        var ids = (Tensor)io["ids_restore"]!;
        Assert.Equal(ScalarType.Int64, ids.dtype);
        Assert.Equal(new[] { b, l }, ids.shape);
        Assert.Equal(c.GetProperty("loss").GetDouble(), ((Tensor)io["loss"]!).item<float>(), 6);
        Assert.Empty(((Tensor)io["mask_ratio"]!).shape);
        Assert.All(io.Keys.Cast<string>().Where(k => k.StartsWith("grad.", StringComparison.Ordinal)),
                   k => Assert.True(sd.ContainsKey(k["grad.".Length..]), $"{k} has no parameter"));
    }

    [Fact]
    public void Given_legacy_torch_save_file_When_loaded_Then_clear_error()
    {
        using var tmp = NewTempFolder();
        var path = tmp.File("legacy.pth");
        // What torch.save(..., _use_new_zipfile_serialization=False) starts with: the pickled magic number.
        File.WriteAllBytes(path, new byte[] { 0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, (byte)'.' });
        var ex = Assert.Throws<InvalidDataException>(() => PyTorchFile.Load(path));
        Assert.Contains(path, ex.Message);
        Assert.Contains("legacy torch.save format not supported; re-save with torch.save(..., _use_new_zipfile_serialization=True)", ex.Message);
    }

    [Fact]
    public void Given_non_zip_file_When_loaded_Then_clear_error()
    {
        using var tmp = NewTempFolder();
        var path = tmp.File("notes.pth");
        File.WriteAllText(path, "this is not a checkpoint");
        var ex = Assert.Throws<InvalidDataException>(() => PyTorchFile.Load(path));
        Assert.Contains(path, ex.Message);
        Assert.Contains("not a PyTorch file", ex.Message);

        File.WriteAllBytes(path, Array.Empty<byte>());
        Assert.Contains("empty", Assert.Throws<InvalidDataException>(() => PyTorchFile.Load(path)).Message);

        Assert.Throws<FileNotFoundException>(() => PyTorchFile.Load(tmp.File("missing.pth")));
    }

    [Fact]
    public void Given_truncated_file_When_loaded_Then_clear_error()
    {
        using var tmp = NewTempFolder();
        var bytes = File.ReadAllBytes(Fixture("crate-mini.pth"));
        foreach (var fraction in new[] { 0.1, 0.5, 0.99 })
        {
            var path = tmp.File($"cut-{fraction}.pth");
            File.WriteAllBytes(path, bytes[..(int)(bytes.Length * fraction)]);
            var ex = Assert.Throws<InvalidDataException>(() => PyTorchFile.Load(path));
            Assert.Contains(path, ex.Message);
        }
    }

    [Fact]
    public void Given_truncated_pickle_inside_valid_zip_When_loaded_Then_clear_error()
    {
        using var tmp = NewTempFolder();
        var pkl = StateDictPickleWriter.Write(new[] { new StateDictPickleWriter.Item("w", "FloatStorage", "0", 4, new long[] { 4 }, new long[] { 1 }, false) });
        var path = tmp.File("cut.pth");
        WriteZip(path, ("m/data.pkl", pkl[..(pkl.Length / 2)]), ("m/data/0", new byte[16]), ("m/version", "3\n"u8.ToArray()));
        var ex = Assert.Throws<InvalidDataException>(() => PyTorchFile.Load(path));
        Assert.Contains(path, ex.Message);
        Assert.Contains("unexpected end", ex.Message);
    }

    [Theory]
    [InlineData(1L << 40, new long[] { 4 }, new long[] { 1 }, "declares")]                 // storage claims 2^40 elements
    [InlineData(4L, new long[] { 1L << 40, 1L << 40 }, new long[] { 1, 1 }, "overflow")]   // shape overflows / huge
    [InlineData(4L, new long[] { 5 }, new long[] { 1 }, "more than")]                       // more elements than storage
    [InlineData(4L, new long[] { 2, 2 }, new long[] { 3, 1 }, "outside")]                   // view reaches past storage
    [InlineData(4L, new long[] { 1000, 1000 }, new long[] { 0, 0 }, "more than")]           // zero-stride broadcast
    [InlineData(4L, new long[] { 2 }, new long[] { -1 }, "negative")]
    public void Given_lying_tensor_header_When_loaded_Then_clean_error(long storageElements, long[] size, long[] stride, string expected)
    {
        using var tmp = NewTempFolder();
        var pkl = StateDictPickleWriter.Write(new[] { new StateDictPickleWriter.Item("w", "FloatStorage", "0", storageElements, size, stride, false) });
        var path = tmp.File("lying.pth");
        WriteZip(path, ("m/data.pkl", pkl), ("m/data/0", new byte[16]), ("m/version", "3\n"u8.ToArray()));
        var ex = Assert.Throws<InvalidDataException>(() => PyTorchFile.Load(path));
        Assert.Contains(path, ex.Message);
        Assert.Contains(expected, ex.Message);
    }

    [Fact]
    public void Given_missing_storage_record_When_loaded_Then_error_names_record()
    {
        using var tmp = NewTempFolder();
        var pkl = StateDictPickleWriter.Write(new[] { new StateDictPickleWriter.Item("w", "FloatStorage", "7", 4, new long[] { 4 }, new long[] { 1 }, false) });
        var path = tmp.File("missing.pth");
        WriteZip(path, ("m/data.pkl", pkl), ("m/version", "3\n"u8.ToArray()));
        var ex = Assert.Throws<InvalidDataException>(() => PyTorchFile.Load(path));
        Assert.Contains("m/data/7", ex.Message);
    }

    [Fact]
    public void Given_archive_with_malicious_pickle_When_loaded_Then_refused_and_nothing_runs()
    {
        using var tmp = NewTempFolder();
        var marker = tmp.File("pwned");
        var path = tmp.File("evil.pth");
        WriteZip(path, ("evil/data.pkl", PickleBytes.Exploit("posix", "system", "touch " + marker)), ("evil/version", "3\n"u8.ToArray()));
        var ex = Assert.Throws<InvalidDataException>(() => PyTorchFile.Load(path));
        Assert.Contains(path, ex.Message);
        Assert.Contains("posix.system", ex.Message);
        Assert.False(File.Exists(marker));
    }

    [Fact]
    public void Given_zip_without_data_pkl_When_loaded_Then_clear_error()
    {
        using var tmp = NewTempFolder();
        var path = tmp.File("other.zip");
        WriteZip(path, ("readme.txt", "hello"u8.ToArray()));
        var ex = Assert.Throws<InvalidDataException>(() => PyTorchFile.Load(path));
        Assert.Contains("no data.pkl", ex.Message);
    }

    [Fact]
    public void Given_torchscript_archive_When_loaded_Then_clear_error()
    {
        using var tmp = NewTempFolder();
        var path = tmp.File("scripted.pt");
        WriteZip(path, ("m/data.pkl", new PickleBytes().Proto(2).Global("__torch__", "Model").Op(')').Op(0x81).Stop().ToArray()),
                 ("m/constants.pkl", new PickleBytes().Proto(2).Op(')').Stop().ToArray()), ("m/code/__torch__.py", "x"u8.ToArray()));
        var ex = Assert.Throws<InvalidDataException>(() => PyTorchFile.Load(path));
        Assert.Contains("TorchScript", ex.Message);
    }

    [Fact]
    public void Given_big_endian_archive_When_loaded_Then_bytes_swapped()
    {
        using var tmp = NewTempFolder();
        var pkl = StateDictPickleWriter.Write(new[] { new StateDictPickleWriter.Item("w", "IntStorage", "0", 2, new long[] { 2 }, new long[] { 1 }, false) });
        var path = tmp.File("be.pth");
        WriteZip(path, ("m/data.pkl", pkl), ("m/byteorder", "big"u8.ToArray()), ("m/data/0", new byte[] { 0, 0, 0, 1, 0, 0, 1, 0 }), ("m/version", "3\n"u8.ToArray()));
        using var scope = torch.NewDisposeScope();
        var t = (Tensor)LoadDict(path)["w"]!;
        Assert.Equal(new[] { 1, 256 }, t.data<int>().ToArray());
    }
}
