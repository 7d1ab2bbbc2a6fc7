using System.Numerics;
using System.Text.Json;
using CrateMae.Interop;
using TorchSharp;
using static CrateMae.Tests.Interop.InteropTestSupport;
using static TorchSharp.torch;

namespace CrateMae.Tests.Interop;

/// <summary>
/// Cross-checks against the real PyTorch (/usr/bin/python3 with torch). When torch cannot be imported the tests
/// skip with the reason (scripts/setup.sh installs python3-torch, so in CI they run).
/// </summary>
[Collection(InteropCollection.Name)]
public sealed class PythonInteropTests
{
    /// <summary>Skips (with the reason) where /usr/bin/python3 cannot import torch; scripts/setup.sh installs python3-torch.</summary>
    private static void RequireTorch() =>
        Skip.If(TorchUnavailableReason is not null, $"{TorchUnavailableReason}; install python3-torch to run this check");

    private static readonly Dictionary<ScalarType, string> TorchNames = new()
    {
        [ScalarType.Float32] = "torch.float32", [ScalarType.Float64] = "torch.float64", [ScalarType.Float16] = "torch.float16",
        [ScalarType.BFloat16] = "torch.bfloat16", [ScalarType.Int64] = "torch.int64", [ScalarType.Int32] = "torch.int32",
        [ScalarType.Int16] = "torch.int16", [ScalarType.Int8] = "torch.int8", [ScalarType.Byte] = "torch.uint8", [ScalarType.Bool] = "torch.bool",
    };

    /// <summary>Python helper: raw little-endian bytes of a tensor, base64.</summary>
    private const string RawBytesPy = """
        import base64, torch
        def raw(v):
            c = v.detach().contiguous().reshape(-1)
            if c.dtype == torch.bfloat16:
                c = c.view(torch.int16)
            return base64.b64encode(c.numpy().tobytes()).decode()
        def describe(k, v):
            return {"key": k, "dtype": str(v.dtype), "shape": list(v.shape), "requires_grad": v.requires_grad, "data": raw(v)}
        """;

    private const string ReadPthPy = RawBytesPy + """

        import sys, json
        sd = torch.load(sys.argv[1])
        print(json.dumps({"type": type(sd).__module__ + "." + type(sd).__name__,
                          "entries": [describe(k, v) for k, v in sd.items()]}))
        """;

    private void AssertPythonSees(IReadOnlyList<(string Key, Tensor Value)> expected, string path)
    {
        using var doc = JsonDocument.Parse(RunPythonChecked(ReadPthPy, path));
        Assert.Equal("collections.OrderedDict", doc.RootElement.GetProperty("type").GetString());
        var entries = doc.RootElement.GetProperty("entries").EnumerateArray().ToList();
        Assert.Equal(expected.Select(e => e.Key), entries.Select(e => e.GetProperty("key").GetString()));
        for (int i = 0; i < expected.Count; i++)
        {
            var (key, t) = expected[i];
            var e = entries[i];
            Assert.Equal(TorchNames[t.dtype], e.GetProperty("dtype").GetString());
            Assert.Equal(t.shape, e.GetProperty("shape").EnumerateArray().Select(x => x.GetInt64()).ToArray());
            Assert.Equal(t.requires_grad, e.GetProperty("requires_grad").GetBoolean());
            Assert.True(Bytes(t).AsSpan().SequenceEqual(Convert.FromBase64String(e.GetProperty("data").GetString()!)), $"{key}: PyTorch read different bytes");
        }
    }

    [SkippableTheory]
    [InlineData(false)]
    [InlineData(true)]
    public void Given_pth_written_by_csharp_When_read_by_pytorch_Then_identical_ordered_dict(bool forceZip64)
    {
        RequireTorch();
        using var scope = torch.NewDisposeScope();
        using var tmp = NewTempFolder();
        var tensors = AllDtypeTensors();
        tensors.Add(("trainable", torch.randn(2, 2).requires_grad_(true)));
        tensors.Add(("special", torch.tensor(new[] { float.NaN, -0f, float.NegativeInfinity })));
        var path = tmp.File("from-csharp.pth");
        PyTorchFile.SaveStateDict(path, tensors, forceZip64);
        AssertPythonSees(tensors, path);
    }

    [SkippableFact]
    public void Given_fixture_round_tripped_through_csharp_When_read_by_pytorch_Then_equal_to_original()
    {
        RequireTorch();
        using var scope = torch.NewDisposeScope();
        using var tmp = NewTempFolder();
        using var ckpt = StateDictFile.Load(Fixture("crate-mini.mae-checkpoint.pth"));
        var path = tmp.File("crate-mini.resaved.pth");
        PyTorchFile.SaveStateDict(path, ckpt.Tensors);
        var stdout = RunPythonChecked("""
            import sys, torch
            a = torch.load(sys.argv[1]); b = torch.load(sys.argv[2])
            assert list(a.keys()) == list(b.keys()), "key order differs"
            for k in a:
                assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, k
                assert torch.equal(a[k], b[k]), k
            print("OK", len(a))
            """, path, Fixture("crate-mini.pth"));
        Assert.StartsWith("OK", stdout);
    }

    private const string WritePthPy = RawBytesPy + """

        import sys, json, argparse, collections
        out = sys.argv[1]
        torch.manual_seed(0)
        base = torch.randn(6, 5)
        d = collections.OrderedDict()
        d["f32"] = torch.randn(3, 4)
        d["f64"] = torch.randn(2, 3, dtype=torch.float64)
        d["f16"] = torch.randn(5).half()
        d["bf16"] = torch.randn(2, 2).bfloat16()
        d["i64"] = torch.tensor([-2**63, -1, 0, 2**62])
        d["i32"] = torch.arange(-3, 3, dtype=torch.int32)
        d["i16"] = torch.arange(-3, 3, dtype=torch.int16)
        d["i8"] = torch.arange(-3, 3, dtype=torch.int8)
        d["u8"] = torch.arange(250, 256, dtype=torch.uint8)
        d["bool"] = torch.tensor([True, False, True])
        d["scalar"] = torch.tensor(2.5)
        d["empty"] = torch.zeros(0, 3)
        d["view.t"] = base.t()
        d["view.slice"] = base[2:5, 1:3]
        d["view.row"] = base[4]
        d["view.step"] = base[::2, ::2]
        d["base"] = base
        d["param"] = torch.nn.Parameter(torch.randn(2, 2))
        d["frozen_param"] = torch.nn.Parameter(torch.randn(2), requires_grad=False)
        d["grad_tensor"] = torch.randn(3).requires_grad_()
        meta = {"nested": [1, 2.5, "x", None, True, (1, 2)],
                "ns": argparse.Namespace(model="mae_crate_base", lr=1.5e-4),
                "size": torch.Size([2, 3]), "big": 2**70, "neg": -5}
        for proto in (2, 3, 4, 5):
            torch.save({"tensors": d, "meta": meta}, f"{out}/p{proto}.pth", pickle_protocol=proto)
        torch.save(d, f"{out}/legacy.pth", _use_new_zipfile_serialization=False)
        print(json.dumps([describe(k, v) for k, v in d.items()]))
        """;

    [SkippableFact]
    public void Given_files_written_by_pytorch_with_protocols_2_to_5_When_loaded_Then_identical_values_and_flags()
    {
        RequireTorch();
        using var tmp = NewTempFolder();
        using var doc = JsonDocument.Parse(RunPythonChecked(WritePthPy, tmp.Path));
        var expected = doc.RootElement.EnumerateArray().ToList();
        foreach (var proto in new[] { 2, 3, 4, 5 })
        {
            using var scope = torch.NewDisposeScope();
            var what = $"p{proto}.pth";
            var top = Assert.IsType<PyDict>(PyTorchFile.Load(tmp.File(what)));
            var tensors = Assert.IsType<PyDict>(top["tensors"]);
            Assert.Equal(expected.Select(e => (object?)e.GetProperty("key").GetString()), tensors.Keys);
            foreach (var e in expected)
            {
                var key = e.GetProperty("key").GetString()!;
                var t = Assert.IsType<Tensor>(tensors[key]);
                Assert.True(t.is_contiguous(), $"{what} {key}: not contiguous");
                Assert.Equal(e.GetProperty("dtype").GetString(), TorchNames[t.dtype]);
                Assert.Equal(e.GetProperty("shape").EnumerateArray().Select(x => x.GetInt64()).ToArray(), t.shape);
                Assert.True(e.GetProperty("requires_grad").GetBoolean() == t.requires_grad, $"{what} {key}: requires_grad");
                Assert.True(Bytes(t).AsSpan().SequenceEqual(Convert.FromBase64String(e.GetProperty("data").GetString()!)), $"{what} {key}: bytes differ");
            }

            var meta = Assert.IsType<PyDict>(top["meta"]);
            var nested = Assert.IsType<List<object?>>(meta["nested"]);
            Assert.Equal(new object?[] { 1L, 2.5, "x", null, true }, nested.Take(5));
            Assert.Equal(new object?[] { 1L, 2L }, Assert.IsType<object?[]>(nested[5]));
            var ns = Assert.IsType<PyDict>(meta["ns"]);
            Assert.Equal("argparse.Namespace", ns.TypeName);
            Assert.Equal("mae_crate_base", ns["model"]);
            Assert.Equal(1.5e-4, ns["lr"]);
            Assert.Equal(new object?[] { 2L, 3L }, Assert.IsType<object?[]>(meta["size"]));
            Assert.Equal(BigInteger.Pow(2, 70), meta["big"]);
            Assert.Equal(-5L, meta["neg"]);
        }

        var ex = Assert.Throws<InvalidDataException>(() => PyTorchFile.Load(tmp.File("legacy.pth")));
        Assert.Contains("legacy torch.save format not supported", ex.Message);
    }

    [SkippableFact]
    public void Given_pytorch_file_with_malicious_reduce_When_loaded_Then_refused_and_nothing_runs()
    {
        RequireTorch();
        using var tmp = NewTempFolder();
        var marker = tmp.File("pwned");
        RunPythonChecked("""
            import os, sys, torch
            class Evil:
                def __reduce__(self):
                    return (os.system, ("touch " + sys.argv[2],))
            torch.save({"weight": torch.ones(2), "payload": Evil()}, sys.argv[1])
            """, tmp.File("evil.pth"), marker);
        Assert.False(File.Exists(marker), "python itself ran the payload while saving");
        var ex = Assert.Throws<InvalidDataException>(() => PyTorchFile.Load(tmp.File("evil.pth")));
        Assert.Contains(tmp.File("evil.pth"), ex.Message);
        Assert.Contains("posix.system", ex.Message);
        Assert.Contains("Nothing from this file was executed", ex.Message);
        Assert.Throws<InvalidDataException>(() => StateDictFile.Load(tmp.File("evil.pth")));
        Assert.False(File.Exists(marker));
    }

    /// <summary>An independent reading of the safetensors spec in Python (no safetensors package needed).</summary>
    private const string SafetensorsPy = """
        import sys, json, struct, torch
        DT = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "I64": torch.int64,
              "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool}
        def read(path):
            b = open(path, "rb").read()
            n, = struct.unpack("<Q", b[:8])
            h = json.loads(b[8:8 + n].decode("utf-8"))
            meta = h.pop("__metadata__", {})
            data = b[8 + n:]
            out = {}
            for k, e in h.items():
                s, t = e["data_offsets"]
                raw = bytearray(data[s:t])
                x = torch.frombuffer(raw, dtype=DT[e["dtype"]]) if len(raw) else torch.empty(0, dtype=DT[e["dtype"]])
                out[k] = x.reshape(e["shape"]).clone()
            return out, meta
        def write(path, tensors, meta):
            names = {v: k for k, v in DT.items()}
            header, blobs, off = {"__metadata__": meta}, [], 0
            for k, v in tensors.items():
                c = v.contiguous().reshape(-1)
                raw = (c.view(torch.int16) if c.dtype == torch.bfloat16 else c).numpy().tobytes()
                header[k] = {"dtype": names[v.dtype], "shape": list(v.shape), "data_offsets": [off, off + len(raw)]}
                blobs.append(raw); off += len(raw)
            hb = json.dumps(header).encode()
            hb += b" " * (-len(hb) % 8)
            with open(path, "wb") as f:
                f.write(struct.pack("<Q", len(hb))); f.write(hb); f.write(b"".join(blobs))
        mode = sys.argv[1]
        if mode == "check":
            st, meta = read(sys.argv[2])
            ref = torch.load(sys.argv[3])
            assert list(st.keys()) == list(ref.keys()), (list(st.keys()), list(ref.keys()))
            for k in ref:
                assert st[k].dtype == ref[k].dtype and st[k].shape == ref[k].shape, k
                a, b = st[k].reshape(-1), ref[k].detach().reshape(-1)
                if a.dtype == torch.bfloat16: a, b = a.view(torch.int16), b.view(torch.int16)
                assert a.numpy().tobytes() == b.numpy().tobytes(), k
            print(json.dumps(meta))
        else:
            torch.manual_seed(3)
            t = {"b": torch.randn(3, 2).bfloat16(), "a": torch.arange(5), "m": torch.tensor([True, False])}
            write(sys.argv[2], t, {"source": "python"})
            torch.save(t, sys.argv[3])
        """;

    [SkippableFact]
    public void Given_safetensors_written_by_csharp_When_parsed_by_independent_python_reader_Then_identical()
    {
        RequireTorch();
        using var scope = torch.NewDisposeScope();
        using var tmp = NewTempFolder();
        var tensors = AllDtypeTensors();
        Safetensors.Save(tmp.File("a.safetensors"), tensors, new Dictionary<string, string> { ["format"] = "pt" });
        PyTorchFile.SaveStateDict(tmp.File("a.pth"), tensors);
        var meta = RunPythonChecked(SafetensorsPy, "check", tmp.File("a.safetensors"), tmp.File("a.pth"));
        Assert.Equal("{\"format\": \"pt\"}", meta.Trim());
    }

    [SkippableFact]
    public void Given_safetensors_written_by_python_When_loaded_Then_equal_to_torch_save_of_same_tensors()
    {
        RequireTorch();
        using var scope = torch.NewDisposeScope();
        using var tmp = NewTempFolder();
        RunPythonChecked(SafetensorsPy, "write", tmp.File("p.safetensors"), tmp.File("p.pth"));
        using var st = Safetensors.Load(tmp.File("p.safetensors"));
        var pth = Assert.IsType<PyDict>(PyTorchFile.Load(tmp.File("p.pth")));
        Assert.Equal("python", st.Metadata["source"]);
        Assert.Equal(new[] { "b", "a", "m" }, st.Tensors.Select(t => t.Key));
        foreach (var (k, v) in st.Tensors) AssertBitEqual((Tensor)pth[k]!, v, k);
    }
}
