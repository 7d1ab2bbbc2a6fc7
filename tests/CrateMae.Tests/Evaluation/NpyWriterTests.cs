using System.Diagnostics;
using System.Text;
using System.Text.Json;
using CrateMae.Evaluation;
using static TorchSharp.torch;

namespace CrateMae.Tests.Evaluation;

[Collection(EvaluationTestCollection.Name)]
public sealed class NpyWriterTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "cratemae-npy-" + Guid.NewGuid().ToString("N"));

    public NpyWriterTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData(new long[] { 3, 4 }, "(3, 4)")]
    [InlineData(new long[] { 5 }, "(5,)")]
    [InlineData(new long[0], "()")]
    [InlineData(new long[] { 60000, 192 }, "(60000, 192)")]
    public void GivenAShape_WhenBuildingTheHeader_ThenItIsVersion1PaddedTo64BytesWithATrailingNewline(long[] shape, string dims)
    {
        var h = NpyWriter.Header(ScalarType.Float32, shape);

        Assert.Equal(0, h.Length % 64);
        Assert.Equal(new byte[] { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0 }, h[..8]);
        Assert.Equal(h.Length - 10, h[8] | (h[9] << 8));
        var text = Encoding.ASCII.GetString(h, 10, h.Length - 10);
        Assert.EndsWith("\n", text);
        Assert.Equal($"{{'descr': '<f4', 'fortran_order': False, 'shape': {dims}, }}", text.TrimEnd('\n').TrimEnd(' '));
    }

    [Fact]
    public void GivenAnUnsupportedDtype_WhenWriting_ThenTheErrorListsTheSupportedOnes()
    {
        using var t = zeros(2, dtype: ScalarType.Float16);
        var e = Assert.Throws<ArgumentException>(() => NpyWriter.Write(Path.Combine(_dir, "x.npy"), t));
        Assert.Contains("float32", e.Message);
        Assert.False(File.Exists(Path.Combine(_dir, "x.npy")));
        Assert.Empty(Directory.GetFiles(_dir));
    }

    [Fact]
    public void GivenAnExistingFile_WhenWriting_ThenItIsReplacedAndNoTemporaryFileRemains()
    {
        var path = Path.Combine(_dir, "replace.npy");
        File.WriteAllText(path, "old");
        using var t = arange(6, dtype: int64);

        NpyWriter.Write(path, t);

        Assert.Equal(NpyWriter.Header(ScalarType.Int64, [6]).Length + 6 * 8, new FileInfo(path).Length);
        Assert.Equal([path], Directory.GetFiles(_dir));
    }

    [NumpyFact]
    public void GivenFloat32AndInt64Tensors_WhenWritten_ThenNumpyLoadsTheSameValues()
    {
        using var scope = NewDisposeScope();
        var f = tensor(new float[] { 0f, -0.5f, 1e-30f, 3.25f, float.MaxValue, float.NaN, -0f, 1f / 3, 7f, -8f, 9.5f, 1e10f }).view(3, 4);
        var transposed = f.t();                                        // non-contiguous: must still come out in C order
        var i = tensor(new long[] { 0, -7, 1L << 40, long.MinValue, long.MaxValue });
        var empty = zeros(2, 0, dtype: float32);
        var big = randn(60, 192, generator: new Generator(1));
        var files = new (string Name, Tensor T)[] { ("f.npy", f), ("ft.npy", transposed), ("i.npy", i), ("empty.npy", empty), ("big.npy", big) };
        foreach (var (name, t) in files) NpyWriter.Write(Path.Combine(_dir, name), t);

        // numpy reports dtype, shape, C-contiguity and the raw values (float32 as uint32 bit patterns, so NaN and −0 compare exactly).
        const string script = """
            import json, sys, numpy as np
            out = {}
            for name in sys.argv[2:]:
                a = np.load(sys.argv[1] + '/' + name, allow_pickle=False)
                bits = a.view(np.uint32) if a.dtype == np.float32 else a
                out[name] = {'dtype': a.dtype.str, 'shape': list(a.shape), 'c': bool(a.flags['C_CONTIGUOUS']), 'values': bits.ravel().tolist()}
            print(json.dumps(out))
            """;
        var json = RunPython(script, [_dir, .. files.Select(x => x.Name)]);
        using var doc = JsonDocument.Parse(json);

        foreach (var (name, t) in files)
        {
            var e = doc.RootElement.GetProperty(name);
            bool isFloat = t.dtype == ScalarType.Float32;
            Assert.Equal(isFloat ? "<f4" : "<i8", e.GetProperty("dtype").GetString());
            Assert.Equal(t.shape, e.GetProperty("shape").EnumerateArray().Select(v => v.GetInt64()).ToArray());
            Assert.True(e.GetProperty("c").GetBoolean());
            var values = e.GetProperty("values").EnumerateArray().ToArray();
            var flat = t.contiguous().flatten();
            Assert.Equal(flat.shape[0], values.Length);
            if (isFloat)
            {
                var expected = flat.data<float>().ToArray().Select(BitConverter.SingleToUInt32Bits).ToArray();
                Assert.Equal(expected, values.Select(v => v.GetUInt32()).ToArray());
            }
            else
            {
                Assert.Equal(flat.data<long>().ToArray(), values.Select(v => v.GetInt64()).ToArray());
            }
        }
    }

    private static string RunPython(string script, IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo(NumpyFactAttribute.Python)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(script);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        Assert.True(p.WaitForExit(60_000), "python timed out");
        Assert.True(p.ExitCode == 0, $"python failed: {stderr.Result}");
        return stdout.Result;
    }
}
