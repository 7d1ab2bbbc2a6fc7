using System.Buffers.Binary;
using System.Text;

namespace CrateMae.Interop;

/// <summary>
/// Minimal zip writer for PyTorch archives: every entry is stored (no compression), its data starts on a 64-byte
/// boundary (as PyTorch's own writer does, padding the local extra field), and zip64 records are written when sizes
/// or offsets need them (or always, when <c>forceZip64</c> is set, for testing).
/// </summary>
internal sealed class ZipStoreWriter
{
    private const int Alignment = 64;
    private const ushort DosTime = 0;          // 00:00:00
    private const ushort DosDate = (0 << 9) | (1 << 5) | 1; // 1980-01-01, fixed for reproducible files
    private readonly Stream _out;
    private readonly bool _forceZip64;
    private readonly List<Entry> _entries = new();
    private Entry? _open;
    private Crc32 _crc;
    private long _written;
    private bool _finished;

    private sealed class Entry
    {
        public required string Name;
        public required byte[] NameBytes;
        public required long HeaderOffset;
        public required long Length;
        public required bool Zip64;
        public uint Crc;
    }

    /// <summary>Writes to a seekable stream (local headers are patched with the CRC once an entry's data is written).</summary>
    public ZipStoreWriter(Stream output, bool forceZip64 = false)
    {
        if (!output.CanSeek || !output.CanWrite) throw new ArgumentException("zip output must be a seekable, writable stream", nameof(output));
        _out = output;
        _forceZip64 = forceZip64;
    }

    /// <summary>Writes a whole entry.</summary>
    public void AddEntry(string name, ReadOnlySpan<byte> data)
    {
        BeginEntry(name, data.Length);
        Write(data);
        EndEntry();
    }

    /// <summary>Starts an entry of exactly <paramref name="length"/> bytes; follow with <see cref="Write"/> calls and <see cref="EndEntry"/>.</summary>
    public void BeginEntry(string name, long length)
    {
        if (_open != null || _finished) throw new InvalidOperationException("previous zip entry not finished");
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        foreach (var ch in name)
            if (ch < 0x20 || ch > 0x7E) throw new ArgumentException($"zip entry name '{name}' must be printable ASCII", nameof(name));
        var nameBytes = Encoding.ASCII.GetBytes(name);
        if (nameBytes.Length > 0xFFFF) throw new ArgumentException("zip entry name too long", nameof(name));
        long offset = _out.Position;
        bool zip64 = _forceZip64 || length >= 0xFFFFFFFFL || offset >= 0xFFFFFFFFL;
        var e = new Entry { Name = name, NameBytes = nameBytes, HeaderOffset = offset, Length = length, Zip64 = zip64 };

        int zip64Extra = zip64 ? 4 + 16 : 0;
        long dataStartWithoutPad = offset + 30 + nameBytes.Length + zip64Extra + 4; // +4: header of the padding field
        int pad = (int)((Alignment - dataStartWithoutPad % Alignment) % Alignment);
        int extraLength = zip64Extra + 4 + pad;

        Span<byte> h = stackalloc byte[30];
        BinaryPrimitives.WriteUInt32LittleEndian(h[0..], 0x04034b50);
        BinaryPrimitives.WriteUInt16LittleEndian(h[4..], (ushort)(zip64 ? 45 : 20));
        BinaryPrimitives.WriteUInt16LittleEndian(h[6..], 0);           // flags
        BinaryPrimitives.WriteUInt16LittleEndian(h[8..], 0);           // stored
        BinaryPrimitives.WriteUInt16LittleEndian(h[10..], DosTime);
        BinaryPrimitives.WriteUInt16LittleEndian(h[12..], DosDate);
        BinaryPrimitives.WriteUInt32LittleEndian(h[14..], 0);          // CRC, patched in EndEntry
        uint size32 = zip64 ? 0xFFFFFFFFu : (uint)length;
        BinaryPrimitives.WriteUInt32LittleEndian(h[18..], size32);
        BinaryPrimitives.WriteUInt32LittleEndian(h[22..], size32);
        BinaryPrimitives.WriteUInt16LittleEndian(h[26..], (ushort)nameBytes.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(h[28..], (ushort)extraLength);
        _out.Write(h);
        _out.Write(nameBytes);
        if (zip64)
        {
            Span<byte> z = stackalloc byte[20];
            BinaryPrimitives.WriteUInt16LittleEndian(z[0..], 0x0001);
            BinaryPrimitives.WriteUInt16LittleEndian(z[2..], 16);
            BinaryPrimitives.WriteInt64LittleEndian(z[4..], length);
            BinaryPrimitives.WriteInt64LittleEndian(z[12..], length);
            _out.Write(z);
        }
        Span<byte> p = stackalloc byte[4 + pad];
        BinaryPrimitives.WriteUInt16LittleEndian(p[0..], 0x4246); // "FB", PyTorch's padding field id
        BinaryPrimitives.WriteUInt16LittleEndian(p[2..], (ushort)pad);
        p[4..].Fill((byte)'Z');
        _out.Write(p);

        _open = e;
        _crc = new Crc32();
        _written = 0;
    }

    /// <summary>Appends data to the open entry.</summary>
    public void Write(ReadOnlySpan<byte> data)
    {
        if (_open == null) throw new InvalidOperationException("no open zip entry");
        if (_written + data.Length > _open.Length)
            throw new InvalidOperationException($"zip entry '{_open.Name}': more data than the declared {_open.Length} bytes");
        _crc.Append(data);
        _out.Write(data);
        _written += data.Length;
    }

    /// <summary>Finishes the open entry and patches its CRC into the local header.</summary>
    public void EndEntry()
    {
        var e = _open ?? throw new InvalidOperationException("no open zip entry");
        if (_written != e.Length)
            throw new InvalidOperationException($"zip entry '{e.Name}': wrote {_written} bytes, declared {e.Length}");
        e.Crc = _crc.Value;
        long end = _out.Position;
        _out.Position = e.HeaderOffset + 14;
        Span<byte> c = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(c, e.Crc);
        _out.Write(c);
        _out.Position = end;
        _entries.Add(e);
        _open = null;
    }

    /// <summary>Writes the central directory and end records.</summary>
    public void Finish()
    {
        if (_open != null) throw new InvalidOperationException("zip entry not finished");
        if (_finished) return;
        _finished = true;
        long cdStart = _out.Position;
        Span<byte> h = stackalloc byte[46];
        Span<byte> z = stackalloc byte[4 + 24];
        foreach (var e in _entries)
        {
            bool bigLen = _forceZip64 || e.Length >= 0xFFFFFFFFL;
            bool bigOff = _forceZip64 || e.HeaderOffset >= 0xFFFFFFFFL;
            int zlen = (bigLen ? 16 : 0) + (bigOff ? 8 : 0);
            int extra = zlen > 0 ? 4 + zlen : 0;
            BinaryPrimitives.WriteUInt32LittleEndian(h[0..], 0x02014b50);
            BinaryPrimitives.WriteUInt16LittleEndian(h[4..], (ushort)(zlen > 0 || e.Zip64 ? 45 : 20)); // made by (MS-DOS)
            BinaryPrimitives.WriteUInt16LittleEndian(h[6..], (ushort)(zlen > 0 || e.Zip64 ? 45 : 20));
            BinaryPrimitives.WriteUInt16LittleEndian(h[8..], 0);
            BinaryPrimitives.WriteUInt16LittleEndian(h[10..], 0);
            BinaryPrimitives.WriteUInt16LittleEndian(h[12..], DosTime);
            BinaryPrimitives.WriteUInt16LittleEndian(h[14..], DosDate);
            BinaryPrimitives.WriteUInt32LittleEndian(h[16..], e.Crc);
            BinaryPrimitives.WriteUInt32LittleEndian(h[20..], bigLen ? 0xFFFFFFFFu : (uint)e.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(h[24..], bigLen ? 0xFFFFFFFFu : (uint)e.Length);
            BinaryPrimitives.WriteUInt16LittleEndian(h[28..], (ushort)e.NameBytes.Length);
            BinaryPrimitives.WriteUInt16LittleEndian(h[30..], (ushort)extra);
            BinaryPrimitives.WriteUInt16LittleEndian(h[32..], 0); // comment
            BinaryPrimitives.WriteUInt16LittleEndian(h[34..], 0); // disk
            BinaryPrimitives.WriteUInt16LittleEndian(h[36..], 0); // internal attributes
            BinaryPrimitives.WriteUInt32LittleEndian(h[38..], 0); // external attributes
            BinaryPrimitives.WriteUInt32LittleEndian(h[42..], bigOff ? 0xFFFFFFFFu : (uint)e.HeaderOffset);
            _out.Write(h);
            _out.Write(e.NameBytes);
            if (zlen > 0)
            {
                BinaryPrimitives.WriteUInt16LittleEndian(z[0..], 0x0001);
                BinaryPrimitives.WriteUInt16LittleEndian(z[2..], (ushort)zlen);
                int at = 4;
                if (bigLen)
                {
                    BinaryPrimitives.WriteInt64LittleEndian(z[at..], e.Length); at += 8;
                    BinaryPrimitives.WriteInt64LittleEndian(z[at..], e.Length); at += 8;
                }
                if (bigOff) { BinaryPrimitives.WriteInt64LittleEndian(z[at..], e.HeaderOffset); at += 8; }
                _out.Write(z[..at]);
            }
        }
        long cdEnd = _out.Position;
        long cdSize = cdEnd - cdStart;
        bool zip64End = _forceZip64 || _entries.Count >= 0xFFFF || cdStart >= 0xFFFFFFFFL || cdSize >= 0xFFFFFFFFL;
        if (zip64End)
        {
            Span<byte> r = stackalloc byte[56];
            BinaryPrimitives.WriteUInt32LittleEndian(r[0..], 0x06064b50);
            BinaryPrimitives.WriteInt64LittleEndian(r[4..], 44);
            BinaryPrimitives.WriteUInt16LittleEndian(r[12..], 45);
            BinaryPrimitives.WriteUInt16LittleEndian(r[14..], 45);
            BinaryPrimitives.WriteUInt32LittleEndian(r[16..], 0);
            BinaryPrimitives.WriteUInt32LittleEndian(r[20..], 0);
            BinaryPrimitives.WriteInt64LittleEndian(r[24..], _entries.Count);
            BinaryPrimitives.WriteInt64LittleEndian(r[32..], _entries.Count);
            BinaryPrimitives.WriteInt64LittleEndian(r[40..], cdSize);
            BinaryPrimitives.WriteInt64LittleEndian(r[48..], cdStart);
            _out.Write(r);
            Span<byte> l = stackalloc byte[20];
            BinaryPrimitives.WriteUInt32LittleEndian(l[0..], 0x07064b50);
            BinaryPrimitives.WriteUInt32LittleEndian(l[4..], 0);
            BinaryPrimitives.WriteInt64LittleEndian(l[8..], cdEnd);
            BinaryPrimitives.WriteUInt32LittleEndian(l[16..], 1);
            _out.Write(l);
        }
        Span<byte> eocd = stackalloc byte[22];
        BinaryPrimitives.WriteUInt32LittleEndian(eocd[0..], 0x06054b50);
        BinaryPrimitives.WriteUInt16LittleEndian(eocd[4..], 0);
        BinaryPrimitives.WriteUInt16LittleEndian(eocd[6..], 0);
        ushort n16 = zip64End ? (ushort)0xFFFF : (ushort)_entries.Count;
        BinaryPrimitives.WriteUInt16LittleEndian(eocd[8..], n16);
        BinaryPrimitives.WriteUInt16LittleEndian(eocd[10..], n16);
        BinaryPrimitives.WriteUInt32LittleEndian(eocd[12..], zip64End ? 0xFFFFFFFFu : (uint)cdSize);
        BinaryPrimitives.WriteUInt32LittleEndian(eocd[16..], zip64End ? 0xFFFFFFFFu : (uint)cdStart);
        BinaryPrimitives.WriteUInt16LittleEndian(eocd[20..], 0);
        _out.Write(eocd);
    }
}
