using System.Buffers.Binary;
using System.Text;
using CrateMae.Interop;
using TorchSharp;
using static CrateMae.Tests.Interop.InteropTestSupport;

namespace CrateMae.Tests.Interop;

[Collection(InteropCollection.Name)]
public sealed class SafetensorsTests
{
    private static string WriteRaw(InteropTestSupport.TempFolder tmp, string header, int dataBytes, ulong? declaredLength = null)
    {
        var h = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + h.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, declaredLength ?? (ulong)h.Length);
        h.CopyTo(bytes, 8);
        var path = tmp.File("t-" + Guid.NewGuid().ToString("N")[..8] + ".safetensors");
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Fact]
    public void Given_header_claiming_2_pow_40_elements_When_loaded_Then_clear_error_without_allocation()
    {
        using var tmp = NewTempFolder();
        var path = WriteRaw(tmp, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1048576,1048576],\"data_offsets\":[0,16]}}", 16);
        var ex = Assert.Throws<InvalidDataException>(() => Safetensors.Load(path));
        Assert.Contains(path, ex.Message);
        Assert.Contains("'w'", ex.Message);
        Assert.Contains("[1048576, 1048576]", ex.Message);
        // the same count with matching offsets is caught by the data-section bound
        var path2 = WriteRaw(tmp, "{\"w\":{\"dtype\":\"U8\",\"shape\":[1048576,1048576],\"data_offsets\":[0,1099511627776]}}", 16);
        Assert.Contains("past", Assert.Throws<InvalidDataException>(() => Safetensors.Load(path2)).Message);
    }

    [Theory]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"v\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 16, "overlap")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, "past")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, "end before")]
    [InlineData("{\"w\":{\"dtype\":\"C64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8, "unsupported dtype")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "non-negative")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,4]}}", 4, "overflows")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "data_offsets")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "twice")]
    [InlineData("{\"__metadata__\":{\"a\":1}}", 0, "not a string")]
    [InlineData("{\"w\": [1, 2", 0, "not valid JSON")]
    [InlineData("[1, 2, 3]", 0, "not a JSON object")]
    public void Given_invalid_header_When_loaded_Then_clear_error(string header, int dataBytes, string expected)
    {
        using var tmp = NewTempFolder();
        var path = WriteRaw(tmp, header, dataBytes);
        var ex = Assert.Throws<InvalidDataException>(() => Safetensors.Load(path));
        Assert.Contains(path, ex.Message);
        Assert.Contains(expected, ex.Message);
    }

    [Theory]
    [InlineData(ulong.MaxValue)]
    [InlineData(1UL << 40)]
    [InlineData(0UL)]
    [InlineData(1000UL)]
    public void Given_header_length_out_of_bounds_When_loaded_Then_clear_error(ulong declared)
    {
        using var tmp = NewTempFolder();
        var path = WriteRaw(tmp, "{}", 0, declared);
        var ex = Assert.Throws<InvalidDataException>(() => Safetensors.Load(path));
        Assert.Contains("header length", ex.Message);
    }

    [Fact]
    public void Given_truncated_safetensors_When_loaded_Then_clear_error()
    {
        using var scope = torch.NewDisposeScope();
        using var tmp = NewTempFolder();
        var path = tmp.File("ok.safetensors");
        Safetensors.Save(path, new[] { ("a", torch.ones(100)), ("b", torch.ones(100)) });
        var bytes = File.ReadAllBytes(path);
        foreach (var cut in new[] { 4, 20, bytes.Length - 1 })
        {
            var p = tmp.File($"cut{cut}.safetensors");
            File.WriteAllBytes(p, bytes[..cut]);
            var ex = Assert.Throws<InvalidDataException>(() => Safetensors.Load(p));
            Assert.Contains(p, ex.Message);
        }
    }

    [Fact]
    public void Given_safetensors_file_When_loaded_through_StateDictFile_Then_tensors_available()
    {
        using var scope = torch.NewDisposeScope();
        using var tmp = NewTempFolder();
        using var plain = StateDictFile.Load(Fixture("crate-mini.pth"));
        var path = tmp.File("crate-mini.safetensors");
        Safetensors.Save(path, plain.Tensors, new Dictionary<string, string> { ["format"] = "pt" });
        using var st = StateDictFile.Load(path);
        Assert.Null(st.Args);
        Assert.Equal(plain.Count, st.Count);
        foreach (var (k, v) in plain.Tensors) AssertBitEqual(v, st[k], k);
    }
}
