using System.Numerics;
using CrateMae.Interop;

namespace CrateMae.Tests.Interop;

[Collection(InteropCollection.Name)]
public sealed class PickleReaderTests
{
    private static object? Load(byte[] data, PickleReader? reader = null) => (reader ?? new PickleReader("test.pkl")).Load(data);

    [Theory]
    [InlineData("os", "system")]
    [InlineData("posix", "system")]
    [InlineData("builtins", "eval")]
    [InlineData("builtins", "exec")]
    [InlineData("__builtin__", "getattr")]
    [InlineData("subprocess", "Popen")]
    [InlineData("torch", "load")]
    [InlineData("torch.serialization", "load")]
    [InlineData("collections", "defaultdict")]
    [InlineData("torch._utils", "_rebuild_qtensor")]
    public void Given_exploit_pickle_When_loaded_Then_refused_naming_source_and_global(string module, string name)
    {
        var marker = Path.Combine(Path.GetTempPath(), "cratemae-pwned-" + Guid.NewGuid().ToString("N"));
        foreach (var stackGlobal in new[] { false, true })
        {
            var ex = Assert.Throws<InvalidDataException>(() => Load(PickleBytes.Exploit(module, name, "touch " + marker, stackGlobal)));
            Assert.Contains("test.pkl", ex.Message);
            Assert.Contains($"'{module}.{name}'", ex.Message);
            Assert.Contains("allow-list", ex.Message);
        }
        Assert.False(File.Exists(marker));
    }

    [Fact]
    public void Given_protocol4_opcodes_When_loaded_Then_values_decoded()
    {
        // FRAME, SHORT_BINUNICODE, MEMOIZE, STACK_GLOBAL, NEWOBJ, BUILD, BINGET, LONG1, BINFLOAT, sets, bytes
        var p = new PickleBytes().Proto(4).Op(0x95, 0, 0, 0, 0, 0, 0, 0, 0)
            .Op('}').Op(0x94)                                               // memo 0: outer dict
            .Op('(')
            .ShortStr("args").Op(0x94)                                      // memo 1
            .ShortStr("argparse").ShortStr("Namespace").Op(0x93).Op(0x94)   // memo 2..4
            .Op(')').Op(0x81).Op(0x94)                                      // Namespace()
            .Op('}').Op('(').ShortStr("model").ShortStr("mae_crate_base").ShortStr("lr").Op((byte)'G', 0x3F, 0x50, 0x62, 0x4D, 0xD2, 0xF1, 0xA9, 0xFC)
            .Op('u').Op('b')                                                // BUILD → attributes become entries
            .ShortStr("big").Op(0x8a, 9, 0, 0, 0, 0, 0, 0, 0, 0, 1)        // 2^64
            .ShortStr("neg").Op(0x8a, 1, 0xFF)                              // -1
            .ShortStr("set").Op(0x8f).Op('(').Int1(1).Int1(2).Op(0x90)
            .ShortStr("bytes").Op((byte)'C', 3, 1, 2, 3)
            .ShortStr("again").Op((byte)'h', 1)                             // BINGET "args"
            .ShortStr("flags").Op(0x88).Op(0x89).Op('N').Op(0x87)
            .Op('u').Stop().ToArray();
        var d = Assert.IsType<PyDict>(Load(p));
        var ns = Assert.IsType<PyDict>(d["args"]);
        Assert.Equal("argparse.Namespace", ns.TypeName);
        Assert.Equal("mae_crate_base", ns["model"]);
        Assert.Equal(0.001, (double)ns["lr"]!, 15);
        Assert.Equal(BigInteger.Pow(2, 64), d["big"]);
        Assert.Equal(-1L, d["neg"]);
        Assert.Equal(new HashSet<object?> { 1L, 2L }, (HashSet<object?>)d["set"]!);
        Assert.Equal(new byte[] { 1, 2, 3 }, d["bytes"]);
        Assert.Equal("args", d["again"]);
        Assert.Equal(new object?[] { true, false, null }, d["flags"]);
        Assert.Equal(new object[] { "args", "big", "neg", "set", "bytes", "again", "flags" }, d.Keys.ToArray());
    }

    [Fact]
    public void Given_ordered_dict_with_metadata_When_loaded_Then_order_and_attributes_kept()
    {
        var p = new PickleBytes().Proto(2).Global("collections", "OrderedDict").Op((byte)'q', 0).Op(')').Op('R')
            .Op('(').Str("z").Int1(1).Str("a").Int1(2).Str("z").Int1(3).Op('u')
            .Op('}').Str("_metadata").Op('}').Op('s').Op('b').Stop().ToArray();
        var d = Assert.IsType<PyDict>(Load(p));
        Assert.Equal("collections.OrderedDict", d.TypeName);
        Assert.Equal(new object[] { "z", "a" }, d.Keys.ToArray());
        Assert.Equal(3L, d["z"]);
        Assert.True(d.Attributes.ContainsKey("_metadata"));
        Assert.DoesNotContain("_metadata", d.Keys);
    }

    [Fact]
    public void Given_truncated_pickle_When_loaded_Then_clean_error()
    {
        var full = PickleBytes.Exploit("collections", "OrderedDict", "x");
        for (int cut = 0; cut < full.Length; cut++)
        {
            var ex = Assert.ThrowsAny<InvalidDataException>(() => Load(full[..cut]));
            Assert.Contains("test.pkl", ex.Message);
        }
    }

    [Fact]
    public void Given_lying_string_length_When_loaded_Then_error_without_allocation()
    {
        var p = new PickleBytes().Proto(2).Op((byte)'X', 0xFF, 0xFF, 0xFF, 0x7F).Op((byte)'a').ToArray();
        var ex = Assert.Throws<InvalidDataException>(() => Load(p));
        Assert.Contains("exceeds", ex.Message);
        var p8 = new PickleBytes().Proto(4).Op(0x8e, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F).ToArray();
        Assert.Throws<InvalidDataException>(() => Load(p8));
    }

    [Fact]
    public void Given_deep_nesting_When_loaded_Then_limits_enforced()
    {
        var marks = Enumerable.Repeat((byte)'(', 20_000).ToArray();
        var ex = Assert.Throws<InvalidDataException>(() => Load(marks));
        Assert.Contains("MARK nesting", ex.Message);

        var lists = Enumerable.Repeat((byte)']', 5_000).ToArray();
        var ex2 = Assert.Throws<InvalidDataException>(() => Load(lists, new PickleReader("test.pkl") { MaxStackDepth = 1_000 }));
        Assert.Contains("stack exceeds", ex2.Message);
    }

    [Theory]
    [InlineData(new byte[] { 0x80, 2, (byte)'0', (byte)'.' })]              // POP on empty stack
    [InlineData(new byte[] { 0x80, 2, (byte)'t', (byte)'.' })]              // TUPLE without MARK
    [InlineData(new byte[] { 0x80, 2, (byte)'h', 5, (byte)'.' })]           // unknown memo key
    [InlineData(new byte[] { 0x80, 6, (byte)'N', (byte)'.' })]              // protocol 6
    [InlineData(new byte[] { (byte)'I', (byte)'1', (byte)'\n', (byte)'.' })] // protocol 0 text opcode
    [InlineData(new byte[] { 0x80, 2, (byte)'N', (byte)'N', (byte)'R', (byte)'.' })] // REDUCE on None
    [InlineData(new byte[] { 0x80, 2, (byte)']', (byte)'}', (byte)'b', (byte)'.' })] // BUILD on a list
    [InlineData(new byte[] { 0x80, 2, (byte)'N', (byte)'Q', (byte)'.' })]   // BINPERSID without a storage source
    [InlineData(new byte[] { 0x80, 5, 0x97, (byte)'.' })]                   // out-of-band buffer
    [InlineData(new byte[] { 0xFF })]                                       // unknown opcode
    public void Given_malformed_pickle_When_loaded_Then_invalid_data(byte[] data)
    {
        var ex = Assert.Throws<InvalidDataException>(() => Load(data));
        Assert.StartsWith("test.pkl", ex.Message);
    }
}
