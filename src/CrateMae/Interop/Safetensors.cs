using System.Buffers.Binary;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using CrateMae.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace CrateMae.Interop;

/// <summary>
/// Reads and writes the safetensors format: an 8-byte little-endian header length, a JSON header mapping each
/// tensor name to <c>{"dtype", "shape", "data_offsets": [begin, end]}</c> (plus an optional <c>__metadata__</c>
/// string map), then the raw little-endian tensor bytes. Supported dtypes: F64, F32, F16, BF16, I64, I32, I16, I8,
/// U8, BOOL.
/// </summary>
public static class Safetensors
{
    /// <summary>Largest header accepted (the reference implementation's limit).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    private const string MetadataKey = "__metadata__";

    /// <summary>
    /// Loads every tensor and the metadata of a safetensors file. The header is validated before any tensor memory
    /// is allocated: header length within bounds, well-formed JSON, known dtypes, non-negative shapes whose element
    /// count × dtype size equals the entry's byte range, byte ranges inside the data section and not overlapping.
    /// Returned tensors are contiguous CPU tensors moved out of the caller's dispose scope.
    /// </summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">Invalid header or truncated data; the message names the file and key.</exception>
    public static SafetensorsContent Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        DTypes.RequireLittleEndianHost();
        using var fs = InputFile.OpenRead(path, "safetensors file");
        long fileLength = fs.Length;
        if (fileLength < 8) throw new InvalidDataException($"{path}: {fileLength} bytes, too short for a safetensors file.");
        Span<byte> lenBytes = stackalloc byte[8];
        fs.ReadExactly(lenBytes);
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lenBytes);
        if (headerLength < 2 || headerLength > MaxHeaderBytes || headerLength > (ulong)(fileLength - 8))
            throw new InvalidDataException($"{path}: safetensors header length {headerLength} is invalid " +
                                           $"(file is {fileLength} bytes, limit {MaxHeaderBytes}); not a safetensors file or truncated.");
        var header = new byte[headerLength];
        fs.ReadExactly(header);
        long dataStart = 8 + (long)headerLength;
        long dataLength = fileLength - dataStart;

        var (entries, metadata) = ParseHeader(header, dataLength, path);

        using var scope = torch.NewDisposeScope();
        var result = new List<(string Key, Tensor Value)>(entries.Count);
        foreach (var e in entries)
        {
            var t = torch.empty(new[] { e.ElementCount }, dtype: e.DType);
            fs.Position = dataStart + e.Begin;
            TensorBytes.ReadInto(t, fs, $"{path}: tensor '{e.Key}'");
            var shaped = t.reshape(e.Shape);
            result.Add((e.Key, shaped));
        }
        foreach (var (_, t) in result) t.MoveToOuterDisposeScope();
        return new SafetensorsContent(result, metadata);
    }

    /// <summary>
    /// Writes <paramref name="tensors"/> (in the given order) and optional <paramref name="metadata"/> as a
    /// safetensors file, atomically (temporary file in the same folder, then rename). Tensors may live on any device
    /// and need not be contiguous.
    /// </summary>
    /// <exception cref="ArgumentException">A key is empty, repeated or equal to <c>__metadata__</c>, or a tensor is null.</exception>
    /// <exception cref="NotSupportedException">A tensor's dtype is not supported by safetensors here.</exception>
    public static void Save(string path, IEnumerable<(string Key, Tensor Value)> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(tensors);
        DTypes.RequireLittleEndianHost();
        using var scope = torch.NewDisposeScope();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var items = new List<(string Key, Tensor Data, long Bytes)>();
        foreach (var (key, value) in tensors)
        {
            if (string.IsNullOrEmpty(key)) throw new ArgumentException($"{path}: tensor names must be non-empty.", nameof(tensors));
            if (key == MetadataKey) throw new ArgumentException($"{path}: '{MetadataKey}' is reserved and cannot name a tensor.", nameof(tensors));
            if (value is null) throw new ArgumentException($"{path}: tensor '{key}' is null.", nameof(tensors));
            if (!seen.Add(key)) throw new ArgumentException($"{path}: tensor name '{key}' appears twice.", nameof(tensors));
            try { _ = DTypes.SafetensorsName(value.dtype); }
            catch (NotSupportedException e) { throw new NotSupportedException($"{path}: tensor '{key}': {e.Message}", e); }
            var c = value.detach().cpu().contiguous();
            items.Add((key, c, checked(c.numel() * DTypes.ElementSize(c.dtype))));
        }

        var json = new MemoryStream();
        using (var w = new Utf8JsonWriter(json, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                w.WriteStartObject(MetadataKey);
                foreach (var (k, v) in metadata) w.WriteString(k, v ?? throw new ArgumentException($"{path}: metadata '{k}' is null.", nameof(metadata)));
                w.WriteEndObject();
            }
            long offset = 0;
            foreach (var (key, data, bytes) in items)
            {
                w.WriteStartObject(key);
                w.WriteString("dtype", DTypes.SafetensorsName(data.dtype));
                w.WriteStartArray("shape");
                foreach (var d in data.shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(offset + bytes);
                w.WriteEndArray();
                w.WriteEndObject();
                offset += bytes;
            }
            w.WriteEndObject();
        }
        while (json.Length % 8 != 0) json.WriteByte((byte)' ');
        var header = json.ToArray();

        AtomicFile.Write(path, fs =>
        {
            Span<byte> len = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)header.Length);
            fs.Write(len);
            fs.Write(header);
            foreach (var (_, data, _) in items) TensorBytes.WriteFrom(data, fs.Write);
        });
    }

    private sealed record Entry(string Key, ScalarType DType, long[] Shape, long ElementCount, long Begin, long End);

    private static (List<Entry> Entries, IReadOnlyDictionary<string, string> Metadata) ParseHeader(byte[] header, long dataLength, string path)
    {
        int first = Array.FindIndex(header, b => b is not ((byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n'));
        if (first < 0 || header[first] != (byte)'{')
            throw new InvalidDataException($"{path}: safetensors header is not a JSON object; not a safetensors file.");
        if (!System.Text.Unicode.Utf8.IsValid(header))
            throw new InvalidDataException($"{path}: safetensors header is not valid UTF-8.");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(header, new JsonDocumentOptions { MaxDepth = 8 });
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: safetensors header is not valid JSON: {e.Message}", e);
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"{path}: safetensors header is not a JSON object.");
            var entries = new List<Entry>();
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var names = new HashSet<string>(StringComparer.Ordinal);
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                var key = prop.Name;
                if (!names.Add(key)) throw new InvalidDataException($"{path}: safetensors header lists '{key}' twice.");
                if (key == MetadataKey)
                {
                    if (prop.Value.ValueKind != JsonValueKind.Object)
                        throw new InvalidDataException($"{path}: '{MetadataKey}' must be an object of strings.");
                    foreach (var m in prop.Value.EnumerateObject())
                    {
                        if (m.Value.ValueKind != JsonValueKind.String)
                            throw new InvalidDataException($"{path}: metadata '{m.Name}' is not a string.");
                        metadata[m.Name] = m.Value.GetString()!;
                    }
                    continue;
                }
                entries.Add(ParseEntry(key, prop.Value, dataLength, path));
            }
            entries.Sort((a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End.CompareTo(b.End));
            for (int i = 1; i < entries.Count; i++)
                if (entries[i].Begin < entries[i - 1].End)
                    throw new InvalidDataException($"{path}: tensors '{entries[i - 1].Key}' [{entries[i - 1].Begin}, {entries[i - 1].End}) " +
                                                   $"and '{entries[i].Key}' [{entries[i].Begin}, {entries[i].End}) overlap.");
            return (entries, metadata);
        }
    }

    private static Entry ParseEntry(string key, JsonElement e, long dataLength, string path)
    {
        string Where() => $"{path}: tensor '{key}'";
        if (e.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{Where()}: header entry is not an object.");
        if (!e.TryGetProperty("dtype", out var dt) || dt.ValueKind != JsonValueKind.String)
            throw new InvalidDataException($"{Where()}: missing dtype.");
        var dtypeName = dt.GetString()!;
        if (!DTypes.TryFromSafetensorsName(dtypeName, out var dtype))
            throw new InvalidDataException($"{Where()}: unsupported dtype '{dtypeName}' (supported: F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL).");
        if (!e.TryGetProperty("shape", out var sh) || sh.ValueKind != JsonValueKind.Array)
            throw new InvalidDataException($"{Where()}: missing shape.");
        if (sh.GetArrayLength() > PickleReader.MaxTensorRank)
            throw new InvalidDataException($"{Where()}: rank {sh.GetArrayLength()} exceeds {PickleReader.MaxTensorRank}.");
        var shape = new long[sh.GetArrayLength()];
        int i = 0;
        foreach (var d in sh.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out var v) || v < 0)
                throw new InvalidDataException($"{Where()}: shape entries must be non-negative integers.");
            shape[i++] = v;
        }
        if (!e.TryGetProperty("data_offsets", out var off) || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2)
            throw new InvalidDataException($"{Where()}: data_offsets must be [begin, end].");
        var o = off.EnumerateArray().Select(x => x.ValueKind == JsonValueKind.Number && x.TryGetInt64(out var v) && v >= 0 ? v : -1).ToArray();
        if (o[0] < 0 || o[1] < 0) throw new InvalidDataException($"{Where()}: data_offsets must be non-negative integers.");
        long begin = o[0], end = o[1];
        if (end < begin) throw new InvalidDataException($"{Where()}: data_offsets [{begin}, {end}] end before they begin.");
        if (end > dataLength)
            throw new InvalidDataException($"{Where()}: data_offsets [{begin}, {end}] reach past the {dataLength}-byte data section (truncated file?).");
        long numel = 1, bytes;
        try
        {
            foreach (var d in shape) numel = checked(numel * d);
            bytes = checked(numel * DTypes.ElementSize(dtype));
        }
        catch (OverflowException)
        {
            throw new InvalidDataException($"{Where()}: shape {DTypes.FormatShape(shape)} overflows.");
        }
        if (bytes != end - begin)
            throw new InvalidDataException($"{Where()}: shape {DTypes.FormatShape(shape)} × {dtypeName} needs {bytes} bytes, " +
                                           $"but data_offsets [{begin}, {end}] hold {end - begin}.");
        return new Entry(key, dtype, shape, numel, begin, end);
    }
}
