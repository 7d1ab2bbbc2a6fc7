using System.Buffers.Binary;
using System.Text;

namespace CrateMae.Interop;

/// <summary>
/// Writes the <c>data.pkl</c> of a state_dict the way <c>torch.save(OrderedDict)</c> does (protocol 2):
/// an <c>collections.OrderedDict</c> whose values are <c>torch._utils._rebuild_tensor_v2</c> calls on persistent
/// storages <c>('storage', torch.&lt;Type&gt;Storage, key, 'cpu', numel)</c>.
/// </summary>
internal sealed class StateDictPickleWriter
{
    /// <summary>Description of one tensor entry.</summary>
    public readonly record struct Item(string Key, string StorageClass, string StorageKey, long ElementCount,
                                       long[] Size, long[] Stride, bool RequiresGrad);

    private readonly MemoryStream _out = new();
    private readonly Dictionary<string, int> _memo = new();

    /// <summary>Builds the pickle bytes for <paramref name="items"/> (in order).</summary>
    public static byte[] Write(IReadOnlyList<Item> items)
    {
        var w = new StateDictPickleWriter();
        w.WriteAll(items);
        return w._out.ToArray();
    }

    private void WriteAll(IReadOnlyList<Item> items)
    {
        Op(0x80); Op(2);                                  // PROTO 2
        Global("collections", "OrderedDict");
        Op((byte)')'); Op((byte)'R'); Put("#od");         // OrderedDict()
        for (int start = 0; start < items.Count; start += 1000)
        {
            Op((byte)'(');                                // MARK
            for (int i = start; i < Math.Min(items.Count, start + 1000); i++)
            {
                var it = items[i];
                Str(it.Key);
                Global("torch._utils", "_rebuild_tensor_v2");
                Op((byte)'(');                            // MARK: arguments
                Op((byte)'(');                            // MARK: persistent id
                Memoized("s:storage", () => Str("storage"));
                Global("torch", it.StorageClass);
                Str(it.StorageKey);
                Memoized("s:cpu", () => Str("cpu"));
                Int(it.ElementCount);
                Op((byte)'t'); Op((byte)'Q');             // TUPLE, BINPERSID
                Int(0);                                   // storage offset
                Tuple(it.Size);
                Tuple(it.Stride);
                Op(it.RequiresGrad ? (byte)0x88 : (byte)0x89);
                Get("#od_global"); Op((byte)')'); Op((byte)'R'); // backward_hooks = OrderedDict()
                Op((byte)'t'); Op((byte)'R');             // TUPLE, REDUCE
            }
            Op((byte)'u');                                // SETITEMS
        }
        Op((byte)'.');
    }

    private void Op(byte b) => _out.WriteByte(b);

    private void Global(string module, string name)
    {
        var id = module == "collections" && name == "OrderedDict" ? "#od_global" : "g:" + module + "." + name;
        Memoized(id, () =>
        {
            Op((byte)'c');
            _out.Write(Encoding.ASCII.GetBytes(module + "\n" + name + "\n"));
        });
    }

    private void Memoized(string id, Action write)
    {
        if (_memo.ContainsKey(id)) { Get(id); return; }
        write();
        Put(id);
    }

    private void Put(string id)
    {
        int index = _memo.Count;
        _memo[id] = index;
        if (index < 256) { Op((byte)'q'); Op((byte)index); }
        else { Op((byte)'r'); U32((uint)index); }
    }

    private void Get(string id)
    {
        int index = _memo[id];
        if (index < 256) { Op((byte)'h'); Op((byte)index); }
        else { Op((byte)'j'); U32((uint)index); }
    }

    private void U32(uint v)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, v);
        _out.Write(b);
    }

    private void Str(string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        Op((byte)'X'); U32((uint)bytes.Length);
        _out.Write(bytes);
    }

    private void Int(long v)
    {
        if (v is >= 0 and < 256) { Op((byte)'K'); Op((byte)v); }
        else if (v is >= 0 and < 65536) { Op((byte)'M'); Op((byte)(v & 0xFF)); Op((byte)(v >> 8)); }
        else if (v is >= int.MinValue and <= int.MaxValue)
        {
            Op((byte)'J');
            Span<byte> b = stackalloc byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(b, (int)v);
            _out.Write(b);
        }
        else
        {
            Op(0x8a); Op(8);                              // LONG1, 8 bytes two's complement
            Span<byte> b = stackalloc byte[8];
            BinaryPrimitives.WriteInt64LittleEndian(b, v);
            _out.Write(b);
        }
    }

    private void Tuple(long[] values)
    {
        switch (values.Length)
        {
            case 0: Op((byte)')'); return;
            case 1: Int(values[0]); Op(0x85); return;
            case 2: Int(values[0]); Int(values[1]); Op(0x86); return;
            case 3: Int(values[0]); Int(values[1]); Int(values[2]); Op(0x87); return;
            default:
                Op((byte)'(');
                foreach (var v in values) Int(v);
                Op((byte)'t');
                return;
        }
    }
}
