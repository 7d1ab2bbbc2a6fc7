using System.Buffers.Binary;
using System.Text;

namespace CrateMae.Tests.Interop;

/// <summary>Tiny pickle assembler for hand-crafted (often hostile) test inputs.</summary>
internal sealed class PickleBytes
{
    private readonly MemoryStream _s = new();

    public PickleBytes Op(params byte[] bytes) { _s.Write(bytes); return this; }
    public PickleBytes Op(char c) { _s.WriteByte((byte)c); return this; }
    public PickleBytes Proto(int v) => Op(0x80, (byte)v);
    public PickleBytes Global(string module, string name) { Op('c'); _s.Write(Encoding.ASCII.GetBytes(module + "\n" + name + "\n")); return this; }

    public PickleBytes Str(string s)
    {
        var b = Encoding.UTF8.GetBytes(s);
        Op('X');
        Span<byte> n = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(n, (uint)b.Length);
        _s.Write(n);
        _s.Write(b);
        return this;
    }

    public PickleBytes ShortStr(string s)
    {
        var b = Encoding.UTF8.GetBytes(s);
        Op(0x8c, (byte)b.Length);
        _s.Write(b);
        return this;
    }

    public PickleBytes Int1(int v) => Op((byte)'K', (byte)v);
    public PickleBytes Stop() => Op('.');
    public byte[] ToArray() => _s.ToArray();

    /// <summary>The classic exploit: GLOBAL module.name, then REDUCE with one string argument.</summary>
    public static byte[] Exploit(string module, string name, string argument, bool stackGlobal = false)
    {
        var p = new PickleBytes().Proto(stackGlobal ? 4 : 2);
        if (stackGlobal) p.ShortStr(module).ShortStr(name).Op(0x93);
        else p.Global(module, name);
        return p.Str(argument).Op(0x85).Op('R').Stop().ToArray();
    }
}
