using System.Buffers.Binary;
using System.Numerics;
using System.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace CrateMae.Interop;

/// <summary>
/// A safe unpickler for the subset of Python's pickle format (protocols 2–5) that <c>torch.save</c> writes.
/// </summary>
/// <remarks>
/// <para>Nothing is ever executed or reflected: GLOBAL/STACK_GLOBAL names are resolved only against a fixed
/// allow-list (<c>collections.OrderedDict</c>, <c>torch._utils._rebuild_tensor_v2</c>,
/// <c>torch._utils._rebuild_parameter</c>, <c>torch._utils._rebuild_parameter_with_state</c>,
/// <c>torch.&lt;Type&gt;Storage</c> for Float, Double, Half, BFloat16, Long, Int, Short, Char, Byte and Bool,
/// <c>torch.Size</c> and <c>argparse.Namespace</c>); any other global is refused with an
/// <see cref="InvalidDataException"/> naming the source and the global.</para>
/// <para>Python values map to: <c>None</c> → <see langword="null"/>; <c>bool</c> → <see cref="bool"/>; <c>int</c> →
/// <see cref="long"/> (or <see cref="BigInteger"/> if it does not fit); <c>float</c> → <see cref="double"/>;
/// <c>str</c> → <see cref="string"/>; <c>bytes</c>/<c>bytearray</c> → <see cref="byte"/>[]; <c>tuple</c>/<c>torch.Size</c>
/// → <see cref="object"/>[]; <c>list</c> → <see cref="List{T}"/> of object; <c>set</c>/<c>frozenset</c> →
/// <see cref="HashSet{T}"/> of object; <c>dict</c>/<c>OrderedDict</c>/<c>argparse.Namespace</c> → <see cref="PyDict"/>;
/// tensors and parameters → contiguous CPU <see cref="Tensor"/>s carrying the saved <c>requires_grad</c> flag.</para>
/// <para>Resources are bounded: lengths are checked against the remaining input before anything is allocated,
/// stack size and MARK nesting are limited, tensor shapes are checked for overflow and against the storage they
/// view, and a truncated or malformed stream raises <see cref="InvalidDataException"/>.</para>
/// </remarks>
public sealed class PickleReader
{
    /// <summary>Default limit on the number of values on the unpickling stack.</summary>
    public const int DefaultMaxStackDepth = 1_000_000;

    /// <summary>Default limit on nested MARKs.</summary>
    public const int DefaultMaxMarkDepth = 10_000;

    /// <summary>Largest tensor rank accepted (PyTorch's own limit is 64).</summary>
    public const int MaxTensorRank = 64;

    private const int MaxGlobalNameLength = 512;
    private const int MaxLongBytes = 4096;

    private readonly string _source;
    private readonly Func<StorageReference, Tensor>? _storageLoader;
    private readonly List<Tensor> _rebuilt = new();

    /// <summary>Creates a reader.</summary>
    /// <param name="sourceName">Name used in error messages (usually the file path).</param>
    /// <param name="storageLoader">
    /// Resolves a persistent storage id to a 1-D contiguous CPU tensor of exactly
    /// <see cref="StorageReference.ElementCount"/> elements of <see cref="StorageReference.DType"/>. It may return the
    /// same tensor for repeated keys (the reader never modifies it, and rebuilt tensors never share its memory). When <see langword="null"/>, pickles that
    /// reference storages are refused.
    /// </param>
    public PickleReader(string sourceName, Func<StorageReference, Tensor>? storageLoader = null)
    {
        _source = sourceName ?? throw new ArgumentNullException(nameof(sourceName));
        _storageLoader = storageLoader;
    }

    /// <summary>Maximum number of values on the stack (default <see cref="DefaultMaxStackDepth"/>).</summary>
    public int MaxStackDepth { get; init; } = DefaultMaxStackDepth;

    /// <summary>Maximum MARK nesting (default <see cref="DefaultMaxMarkDepth"/>).</summary>
    public int MaxMarkDepth { get; init; } = DefaultMaxMarkDepth;

    /// <summary>
    /// When set, the first tensor that covers a whole storage contiguously shares the storage tensor's memory instead
    /// of copying it. Only for callers whose storage tensors are private (e.g. <see cref="PyTorchFile"/>).
    /// </summary>
    internal bool ShareWholeStorages { get; init; }

    /// <summary>Tensors created by the most recent <see cref="Load"/> call (so a caller can manage their lifetime).</summary>
    internal IReadOnlyList<Tensor> RebuiltTensors => _rebuilt;

    /// <summary>Unpickles one object from <paramref name="pickle"/> (up to and including its STOP opcode).</summary>
    /// <exception cref="InvalidDataException">Malformed or truncated data, a refused global, or an invalid tensor.</exception>
    public object? Load(ReadOnlyMemory<byte> pickle)
    {
        _rebuilt.Clear();
        return new Machine(this, pickle).Run();
    }

    private InvalidDataException Error(string message, long offset = -1) =>
        new(offset >= 0 ? $"{_source}: pickle offset {offset}: {message}" : $"{_source}: {message}");

    /// <summary>A resolved, allow-listed global (class or function reference). Never invoked reflectively.</summary>
    internal sealed class PyGlobal
    {
        public PyGlobal(string module, string name, GlobalKind kind, ScalarType storageType = default)
        {
            Module = module; Name = name; Kind = kind; StorageType = storageType;
        }
        public string Module { get; }
        public string Name { get; }
        public GlobalKind Kind { get; }
        public ScalarType StorageType { get; }
        public override string ToString() => $"{Module}.{Name}";
    }

    internal enum GlobalKind { OrderedDict, RebuildTensorV2, RebuildParameter, RebuildParameterWithState, Storage, TorchSize, Namespace }

    private sealed class LoadedStorage
    {
        public LoadedStorage(StorageReference reference, Tensor data) { Reference = reference; Data = data; }
        public StorageReference Reference { get; }
        public Tensor Data { get; }
        public override string ToString() => $"storage '{Reference.Key}' ({Reference.DType}, {Reference.ElementCount} elements)";
    }

    private PyGlobal ResolveGlobal(string module, string name, long offset)
    {
        PyGlobal? g = (module, name) switch
        {
            ("collections", "OrderedDict") => new(module, name, GlobalKind.OrderedDict),
            ("torch._utils", "_rebuild_tensor_v2") => new(module, name, GlobalKind.RebuildTensorV2),
            ("torch._utils", "_rebuild_parameter") => new(module, name, GlobalKind.RebuildParameter),
            ("torch._utils", "_rebuild_parameter_with_state") => new(module, name, GlobalKind.RebuildParameterWithState),
            ("torch", "Size") => new(module, name, GlobalKind.TorchSize),
            ("argparse", "Namespace") => new(module, name, GlobalKind.Namespace),
            _ => null,
        };
        if (g != null) return g;
        if (module == "torch" && DTypes.TryFromStorageName(name, out var dtype))
            return new PyGlobal(module, name, GlobalKind.Storage, dtype);
        throw Error($"refusing to load pickle global '{Sanitize(module)}.{Sanitize(name)}': it is not on the allow-list of " +
                    "PyTorch tensor/state_dict types (collections.OrderedDict, torch._utils._rebuild_tensor_v2, " +
                    "torch._utils._rebuild_parameter, torch.*Storage, torch.Size, argparse.Namespace). " +
                    "Nothing from this file was executed.", offset);
    }

    private static string Sanitize(string s)
    {
        var sb = new StringBuilder(Math.Min(s.Length, 200));
        foreach (var ch in s.Length > 200 ? s[..200] + "…" : s) sb.Append(char.IsControl(ch) ? '?' : ch);
        return sb.ToString();
    }

    private sealed class Machine
    {
        private readonly PickleReader _r;
        private readonly ReadOnlyMemory<byte> _mem;
        private int _pos;
        private long _opStart;
        private readonly List<object?> _stack = new();
        private readonly Stack<int> _marks = new();
        private readonly Dictionary<long, object?> _memo = new();
        // Storage tensors whose memory a rebuilt tensor has taken as its own (keyed by reference: one per storage record).
        private readonly HashSet<object> _claimed = new(ReferenceEqualityComparer.Instance);

        public Machine(PickleReader reader, ReadOnlyMemory<byte> data)
        {
            _r = reader;
            _mem = data;
        }

        private ReadOnlySpan<byte> Data => _mem.Span;

        private InvalidDataException Error(string message) => _r.Error(message, _opStart);

        public object? Run()
        {
            while (true)
            {
                _opStart = _pos;
                if (_pos >= _mem.Length) throw Error("unexpected end of pickle data (truncated file? no STOP opcode)");
                byte op = Data[_pos++];
                switch (op)
                {
                    case 0x80: // PROTO
                        {
                            int v = ReadByte();
                            if (v > 5) throw Error($"unsupported pickle protocol {v} (supported: 2 to 5)");
                            break;
                        }
                    case 0x95: // FRAME
                        {
                            ulong n = ReadUInt64();
                            if (n > (ulong)(_mem.Length - _pos)) throw Error("frame length exceeds the data (truncated file?)");
                            break;
                        }
                    case (byte)'.': // STOP
                        {
                            if (_stack.Count <= Fence) throw Error("STOP with an empty stack");
                            return _stack[^1];
                        }
                    case (byte)'(': // MARK
                        if (_marks.Count >= _r.MaxMarkDepth) throw Error($"MARK nesting exceeds the limit of {_r.MaxMarkDepth}");
                        _marks.Push(_stack.Count);
                        break;
                    case (byte)'0': Pop(); break; // POP
                    case (byte)'1': PopMark(); break; // POP_MARK
                    case (byte)'2': Push(Peek()); break; // DUP
                    case (byte)'N': Push(null); break;
                    case 0x88: Push(true); break;  // NEWTRUE
                    case 0x89: Push(false); break; // NEWFALSE
                    case (byte)'J': Push((long)BinaryPrimitives.ReadInt32LittleEndian(Take(4))); break; // BININT
                    case (byte)'K': Push((long)ReadByte()); break; // BININT1
                    case (byte)'M': Push((long)BinaryPrimitives.ReadUInt16LittleEndian(Take(2))); break; // BININT2
                    case 0x8a: Push(DecodeLong(Take(ReadByte()))); break; // LONG1
                    case 0x8b: // LONG4
                        {
                            int n = BinaryPrimitives.ReadInt32LittleEndian(Take(4));
                            if (n < 0 || n > MaxLongBytes) throw Error($"LONG4 length {n} out of range");
                            Push(DecodeLong(Take(n)));
                            break;
                        }
                    case (byte)'G': Push(BinaryPrimitives.ReadDoubleBigEndian(Take(8))); break; // BINFLOAT
                    case (byte)'X': Push(DecodeUtf8(Take(Length(BinaryPrimitives.ReadUInt32LittleEndian(Take(4)))))); break; // BINUNICODE
                    case 0x8c: Push(DecodeUtf8(Take(ReadByte()))); break; // SHORT_BINUNICODE
                    case 0x8d: Push(DecodeUtf8(Take(Length(ReadUInt64())))); break; // BINUNICODE8
                    case (byte)'T': // BINSTRING (Python 2 str)
                        {
                            int n = BinaryPrimitives.ReadInt32LittleEndian(Take(4));
                            if (n < 0) throw Error("negative BINSTRING length");
                            Push(Encoding.Latin1.GetString(Take(n)));
                            break;
                        }
                    case (byte)'U': Push(Encoding.Latin1.GetString(Take(ReadByte()))); break; // SHORT_BINSTRING
                    case (byte)'B': Push(Take(Length(BinaryPrimitives.ReadUInt32LittleEndian(Take(4)))).ToArray()); break; // BINBYTES
                    case (byte)'C': Push(Take(ReadByte()).ToArray()); break; // SHORT_BINBYTES
                    case 0x8e: Push(Take(Length(ReadUInt64())).ToArray()); break; // BINBYTES8
                    case 0x96: Push(Take(Length(ReadUInt64())).ToArray()); break; // BYTEARRAY8
                    case 0x97: throw Error("NEXT_BUFFER: out-of-band pickle buffers are not supported");
                    case 0x98: Peek(); break; // READONLY_BUFFER: no-op on our immutable copy
                    case (byte)')': Push(Array.Empty<object?>()); break; // EMPTY_TUPLE
                    case (byte)'t': Push(PopMark().ToArray()); break; // TUPLE
                    case 0x85: { var a = Pop(); Push(new[] { a }); break; } // TUPLE1
                    case 0x86: { var b = Pop(); var a = Pop(); Push(new[] { a, b }); break; } // TUPLE2
                    case 0x87: { var c = Pop(); var b = Pop(); var a = Pop(); Push(new[] { a, b, c }); break; } // TUPLE3
                    case (byte)']': Push(new List<object?>()); break; // EMPTY_LIST
                    case (byte)'l': Push(PopMark()); break; // LIST
                    case (byte)'a': { var v = Pop(); AsList(Peek(), "APPEND").Add(v); break; } // APPEND
                    case (byte)'e': { var items = PopMark(); AsList(Peek(), "APPENDS").AddRange(items); break; } // APPENDS
                    case (byte)'}': Push(new PyDict()); break; // EMPTY_DICT
                    case (byte)'d': // DICT
                        {
                            var items = PopMark();
                            var d = new PyDict();
                            SetItems(d, items);
                            Push(d);
                            break;
                        }
                    case (byte)'s': // SETITEM
                        {
                            var v = Pop(); var k = Pop();
                            SetItem(AsDict(Peek(), "SETITEM"), k, v);
                            break;
                        }
                    case (byte)'u': // SETITEMS
                        {
                            var items = PopMark();
                            SetItems(AsDict(Peek(), "SETITEMS"), items);
                            break;
                        }
                    case 0x8f: Push(new HashSet<object?>()); break; // EMPTY_SET
                    case 0x90: // ADDITEMS
                        {
                            var items = PopMark();
                            if (Peek() is not HashSet<object?> set) throw Error("ADDITEMS target is not a set");
                            foreach (var i in items) set.Add(i);
                            break;
                        }
                    case 0x91: Push(new HashSet<object?>(PopMark())); break; // FROZENSET
                    case (byte)'q': Memoize(ReadByte()); break; // BINPUT
                    case (byte)'r': Memoize(BinaryPrimitives.ReadUInt32LittleEndian(Take(4))); break; // LONG_BINPUT
                    case 0x94: Memoize(_memo.Count); break; // MEMOIZE
                    case (byte)'h': Push(Recall(ReadByte())); break; // BINGET
                    case (byte)'j': Push(Recall(BinaryPrimitives.ReadUInt32LittleEndian(Take(4)))); break; // LONG_BINGET
                    case (byte)'c': // GLOBAL
                        {
                            var module = ReadLine();
                            var name = ReadLine();
                            Push(_r.ResolveGlobal(module, name, _opStart));
                            break;
                        }
                    case 0x93: // STACK_GLOBAL
                        {
                            var name = Pop(); var module = Pop();
                            if (module is not string m || name is not string n) throw Error("STACK_GLOBAL expects two strings");
                            Push(_r.ResolveGlobal(m, n, _opStart));
                            break;
                        }
                    case (byte)'R': // REDUCE
                        {
                            var args = Pop(); var callable = Pop();
                            if (args is not object?[] tuple) throw Error("REDUCE arguments are not a tuple");
                            Push(Call(callable, tuple, null));
                            break;
                        }
                    case 0x81: // NEWOBJ
                        {
                            var args = Pop(); var cls = Pop();
                            if (args is not object?[] tuple) throw Error("NEWOBJ arguments are not a tuple");
                            Push(New(cls, tuple, null));
                            break;
                        }
                    case 0x92: // NEWOBJ_EX
                        {
                            var kwargs = Pop(); var args = Pop(); var cls = Pop();
                            if (args is not object?[] tuple) throw Error("NEWOBJ_EX arguments are not a tuple");
                            if (kwargs is not PyDict kw) throw Error("NEWOBJ_EX keyword arguments are not a dict");
                            Push(New(cls, tuple, kw));
                            break;
                        }
                    case (byte)'b': // BUILD
                        {
                            var state = Pop();
                            Build(Peek(), state);
                            break;
                        }
                    case (byte)'Q': // BINPERSID
                        Push(PersistentLoad(Pop()));
                        break;
                    case 0x82: case 0x83: case 0x84:
                        throw Error("EXT opcodes (copyreg extension registry) are not supported");
                    default:
                        throw Error(op is >= 0x20 and < 0x7F
                            ? $"unsupported pickle opcode '{(char)op}' (0x{op:x2}); only binary protocols 2 to 5 as written by torch.save are supported"
                            : $"unknown pickle opcode 0x{op:x2}");
                }
            }
        }

        // ---- primitive reads -------------------------------------------------------------------------------

        private ReadOnlySpan<byte> Take(int n)
        {
            if (n < 0 || n > _mem.Length - _pos)
                throw Error($"unexpected end of pickle data: need {n} bytes, {_mem.Length - _pos} left (truncated file?)");
            var s = Data.Slice(_pos, n);
            _pos += n;
            return s;
        }

        private int ReadByte() => Take(1)[0];

        private ulong ReadUInt64() => BinaryPrimitives.ReadUInt64LittleEndian(Take(8));

        private int Length(ulong n)
        {
            if (n > (ulong)(_mem.Length - _pos))
                throw Error($"length {n} exceeds the {_mem.Length - _pos} bytes left (truncated or corrupt file)");
            return (int)n;
        }

        private string ReadLine()
        {
            var rest = Data[_pos..];
            int nl = rest[..Math.Min(rest.Length, MaxGlobalNameLength + 1)].IndexOf((byte)'\n');
            if (nl < 0)
                throw Error(rest.Length <= MaxGlobalNameLength ? "unexpected end of pickle data in GLOBAL (truncated file?)"
                                                               : "GLOBAL name too long");
            var s = DecodeUtf8(rest[..nl]);
            _pos += nl + 1;
            return s;
        }

        private string DecodeUtf8(ReadOnlySpan<byte> bytes)
        {
            try { return StrictUtf8.GetString(bytes); }
            catch (DecoderFallbackException) { throw Error("invalid UTF-8 in a pickled string"); }
        }

        private static readonly UTF8Encoding StrictUtf8 = new(false, true);

        private object DecodeLong(ReadOnlySpan<byte> bytes)
        {
            if (bytes.Length == 0) return 0L;
            if (bytes.Length <= 8)
            {
                Span<byte> buf = stackalloc byte[8];
                bytes.CopyTo(buf);
                if ((bytes[^1] & 0x80) != 0) buf[bytes.Length..].Fill(0xFF);
                return BinaryPrimitives.ReadInt64LittleEndian(buf);
            }
            var big = new BigInteger(bytes, isUnsigned: false, isBigEndian: false);
            return big >= long.MinValue && big <= long.MaxValue ? (object)(long)big : big;
        }

        // ---- stack -----------------------------------------------------------------------------------------

        private int Fence => _marks.Count > 0 ? _marks.Peek() : 0;

        private void Push(object? value)
        {
            if (_stack.Count >= _r.MaxStackDepth) throw Error($"pickle stack exceeds the limit of {_r.MaxStackDepth} values");
            _stack.Add(value);
        }

        private object? Pop()
        {
            if (_stack.Count <= Fence) throw Error("pickle stack underflow");
            var v = _stack[^1];
            _stack.RemoveAt(_stack.Count - 1);
            return v;
        }

        private object? Peek()
        {
            if (_stack.Count <= Fence) throw Error("pickle stack underflow");
            return _stack[^1];
        }

        private List<object?> PopMark()
        {
            if (_marks.Count == 0) throw Error("MARK expected but not found");
            int m = _marks.Pop();
            var items = _stack.GetRange(m, _stack.Count - m);
            _stack.RemoveRange(m, _stack.Count - m);
            return items;
        }

        private void Memoize(long index)
        {
            if (_stack.Count <= Fence) throw Error("memo store with an empty stack");
            _memo[index] = _stack[^1];
        }

        private object? Recall(long index) =>
            _memo.TryGetValue(index, out var v) ? v : throw Error($"memo key {index} not found");

        // ---- containers ------------------------------------------------------------------------------------

        private List<object?> AsList(object? o, string op) =>
            o as List<object?> ?? throw Error($"{op} target is a {Describe(o)}, not a list");

        private PyDict AsDict(object? o, string op) =>
            o as PyDict ?? throw Error($"{op} target is a {Describe(o)}, not a dict");

        private void SetItems(PyDict d, List<object?> items)
        {
            if (items.Count % 2 != 0) throw Error("odd number of items for a dict");
            for (int i = 0; i < items.Count; i += 2) SetItem(d, items[i], items[i + 1]);
        }

        private void SetItem(PyDict d, object? key, object? value)
        {
            if (key is null) throw Error("None as a dict key is not supported");
            if (key is List<object?> or PyDict or HashSet<object?> or Tensor) throw Error($"unhashable dict key ({Describe(key)})");
            d.Set(key, value);
        }

        // ---- objects ---------------------------------------------------------------------------------------

        private object? Call(object? callable, object?[] args, PyDict? kwargs)
        {
            if (callable is not PyGlobal g) throw Error($"REDUCE on a {Describe(callable)}, which is not callable");
            switch (g.Kind)
            {
                case GlobalKind.OrderedDict:
                    {
                        var d = new PyDict("collections.OrderedDict");
                        if (args.Length > 1) throw Error("OrderedDict() takes at most one argument");
                        if (args.Length == 1) FillFromPairs(d, args[0]);
                        return d;
                    }
                case GlobalKind.Namespace:
                    {
                        if (args.Length != 0) throw Error("argparse.Namespace() takes keyword arguments only");
                        var d = new PyDict("argparse.Namespace");
                        if (kwargs != null) foreach (var kv in kwargs) d.Set(kv.Key, kv.Value);
                        return d;
                    }
                case GlobalKind.TorchSize:
                    {
                        if (args.Length != 1 || args[0] is not (object?[] or List<object?>)) throw Error("torch.Size expects one tuple");
                        var items = args[0] is object?[] t ? t : ((List<object?>)args[0]!).ToArray();
                        foreach (var i in items) if (i is not long) throw Error("torch.Size entries must be integers");
                        return items.ToArray();
                    }
                case GlobalKind.RebuildTensorV2:
                    return RebuildTensor(args);
                case GlobalKind.RebuildParameter:
                case GlobalKind.RebuildParameterWithState:
                    {
                        int expected = g.Kind == GlobalKind.RebuildParameter ? 3 : 4;
                        if (args.Length != expected) throw Error($"{g} expects {expected} arguments, got {args.Length}");
                        if (args[0] is not Tensor t) throw Error($"{g}: data is a {Describe(args[0])}, not a tensor");
                        if (args[1] is not bool rg) throw Error($"{g}: requires_grad is not a bool");
                        SetRequiresGrad(t, rg);
                        return t;
                    }
                default:
                    throw Error($"{g} cannot be called");
            }
        }

        private object? New(object? cls, object?[] args, PyDict? kwargs)
        {
            if (cls is not PyGlobal g || (g.Kind != GlobalKind.OrderedDict && g.Kind != GlobalKind.Namespace))
                throw Error($"NEWOBJ on {Describe(cls)} is not supported");
            if (g.Kind == GlobalKind.OrderedDict && kwargs is { Count: > 0 }) throw Error("OrderedDict keyword arguments are not supported");
            return Call(g, args, kwargs);
        }

        private void FillFromPairs(PyDict d, object? pairs)
        {
            if (pairs is PyDict src) { foreach (var kv in src) d.Set(kv.Key, kv.Value); return; }
            IEnumerable<object?> seq = pairs switch
            {
                object?[] a => a,
                List<object?> l => l,
                _ => throw Error($"OrderedDict argument is a {Describe(pairs)}, not a sequence of pairs"),
            };
            foreach (var p in seq)
            {
                var kv = p switch { object?[] a => a, List<object?> l => l.ToArray(), _ => null };
                if (kv is not { Length: 2 }) throw Error("OrderedDict items must be (key, value) pairs");
                SetItem(d, kv[0], kv[1]);
            }
        }

        private void Build(object? target, object? state)
        {
            if (target is not PyDict d) throw Error($"BUILD on a {Describe(target)} is not supported");
            PyDict? dictState = state as PyDict;
            PyDict? slotState = null;
            if (state is object?[] { Length: 2 } pair)
            {
                dictState = pair[0] as PyDict;
                slotState = pair[1] as PyDict;
                if ((pair[0] != null && dictState == null) || (pair[1] != null && slotState == null))
                    throw Error("BUILD state tuple must hold dicts");
            }
            else if (state != null && dictState == null) throw Error($"BUILD state is a {Describe(state)}, not a dict");

            foreach (var s in new[] { dictState, slotState })
            {
                if (s == null) continue;
                foreach (var kv in s)
                {
                    if (kv.Key is not string name) throw Error("BUILD attribute names must be strings");
                    if (d.TypeName == "argparse.Namespace") d.Set(name, kv.Value);
                    else d.SetAttribute(name, kv.Value);
                }
            }
        }

        private object PersistentLoad(object? pid)
        {
            if (pid is not object?[] t || t.Length == 0 || t[0] is not string kind)
                throw Error($"persistent id is a {Describe(pid)}, expected a ('storage', ...) tuple");
            if (kind != "storage") throw Error($"unsupported persistent id type '{Sanitize(kind)}'");
            if (t.Length != 5) throw Error($"storage persistent id has {t.Length} fields, expected 5");
            if (t[1] is not PyGlobal { Kind: GlobalKind.Storage } cls) throw Error($"storage type is {Describe(t[1])}, not a torch.*Storage class");
            if (t[2] is not string key || key.Length == 0) throw Error("storage key is not a string");
            if (t[3] is not string location) throw Error("storage location is not a string");
            if (t[4] is not long count || count < 0) throw Error("storage element count is not a non-negative integer");
            if (_r._storageLoader == null) throw Error("pickle references tensor storage, but no storage source was given");
            var reference = new StorageReference(key, cls.StorageType, location, count);
            var data = _r._storageLoader(reference);
            if (data.dtype != reference.DType || data.numel() != count || data.dim() != 1)
                throw Error($"storage '{key}' loader returned {data.dtype}{DTypes.FormatShape(data.shape)}, expected {reference.DType}[{count}]");
            return new LoadedStorage(reference, data);
        }

        private Tensor RebuildTensor(object?[] args)
        {
            // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
            if (args.Length is < 6 or > 7) throw Error($"_rebuild_tensor_v2 expects 6 or 7 arguments, got {args.Length}");
            if (args[0] is not LoadedStorage storage) throw Error($"_rebuild_tensor_v2: storage is a {Describe(args[0])}");
            if (args[1] is not long offset || offset < 0) throw Error("_rebuild_tensor_v2: storage offset must be a non-negative integer");
            var size = Ints(args[2], "size");
            var stride = Ints(args[3], "stride");
            if (args[4] is not bool requiresGrad) throw Error("_rebuild_tensor_v2: requires_grad is not a bool");
            if (args[5] is not (null or PyDict { Count: 0 })) throw Error("_rebuild_tensor_v2: backward hooks are not supported");
            if (size.Length != stride.Length) throw Error($"tensor size {DTypes.FormatShape(size)} and stride {DTypes.FormatShape(stride)} differ in rank");
            if (size.Length > MaxTensorRank) throw Error($"tensor rank {size.Length} exceeds {MaxTensorRank}");

            long storageCount = storage.Reference.ElementCount;
            long numel = 1, maxIndex = offset;
            try
            {
                for (int i = 0; i < size.Length; i++)
                {
                    if (size[i] < 0 || stride[i] < 0) throw Error($"negative tensor size or stride ({DTypes.FormatShape(size)}, {DTypes.FormatShape(stride)})");
                    numel = checked(numel * size[i]);
                }
                if (numel > 0)
                    for (int i = 0; i < size.Length; i++) maxIndex = checked(maxIndex + checked((size[i] - 1) * stride[i]));
            }
            catch (OverflowException)
            {
                throw Error($"tensor shape {DTypes.FormatShape(size)} / stride {DTypes.FormatShape(stride)} overflows");
            }
            if (numel > storageCount)
                throw Error($"tensor shape {DTypes.FormatShape(size)} has {numel} elements, more than its {storage} holds " +
                            "(broadcast views with zero strides are not supported)");
            if (numel > 0 ? maxIndex >= storageCount : offset > storageCount)
                throw Error($"tensor view (offset {offset}, shape {DTypes.FormatShape(size)}, stride {DTypes.FormatShape(stride)}) " +
                            $"reaches outside its {storage}");

            // A tensor covering its whole storage contiguously takes the storage memory itself (the first one only),
            // so typical state_dicts are not copied twice; every other view is copied out. Returned tensors never
            // share memory with each other.
            Tensor result;
            using (var view = storage.Data.as_strided(size, stride, offset))
            {
                bool whole = offset == 0 && numel == storageCount && view.is_contiguous();
                if (whole && _r.ShareWholeStorages && _claimed.Add(storage.Data))
                    result = view.alias();
                else result = view.is_contiguous() ? view.clone() : view.contiguous();
            }
            _r._rebuilt.Add(result);
            SetRequiresGrad(result, requiresGrad);
            return result;
        }

        private void SetRequiresGrad(Tensor t, bool requiresGrad)
        {
            if (t.requires_grad == requiresGrad) return;
            if (requiresGrad && !t.is_floating_point()) throw Error($"requires_grad=True on a {t.dtype} tensor");
            t.requires_grad_(requiresGrad);
        }

        private long[] Ints(object? o, string what)
        {
            IReadOnlyList<object?> items = o switch
            {
                object?[] a => a,
                List<object?> l => l,
                _ => throw Error($"tensor {what} is a {Describe(o)}, not a tuple"),
            };
            if (items.Count > MaxTensorRank) throw Error($"tensor {what} has {items.Count} entries (limit {MaxTensorRank})");
            var r = new long[items.Count];
            for (int i = 0; i < r.Length; i++)
                r[i] = items[i] is long v ? v : throw Error($"tensor {what} entry {i} is not an integer");
            return r;
        }

        private static string Describe(object? o) => o switch
        {
            null => "None",
            PyGlobal g => $"global {g}",
            object?[] => "tuple",
            List<object?> => "list",
            PyDict d => d.TypeName,
            Tensor => "tensor",
            _ => o.GetType().Name,
        };
    }
}
