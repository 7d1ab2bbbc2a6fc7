using System.IO.Compression;
using System.Text;
using CrateMae.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace CrateMae.Interop;

/// <summary>
/// Reads and writes PyTorch <c>torch.save</c> files (zip format) without executing anything from the file.
/// </summary>
public static class PyTorchFile
{
    /// <summary>Largest <c>data.pkl</c> record accepted (pickles of state_dicts are a few MB at most).</summary>
    public const long MaxPickleBytes = 1L << 30;

    private const string LegacyMessage =
        "legacy torch.save format not supported; re-save with torch.save(..., _use_new_zipfile_serialization=True)";

    /// <summary>
    /// Loads a <c>torch.save</c> zip archive (any top folder name) and returns its object tree (see
    /// <see cref="PickleReader"/> for the mapping of Python values). Each storage record is read once; tensors are
    /// rebuilt from (storage, offset, size, stride) and returned as contiguous CPU tensors, so tensors saved as views
    /// load correctly. No two returned tensors share memory. Returned tensors are moved out of the caller's dispose
    /// scope.
    /// </summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is not a (new-format) PyTorch archive, is truncated or corrupt,
    /// or its pickle uses a global outside the allow-list.</exception>
    public static object? Load(string path)
    {
        var (tree, _) = LoadWithTensors(path);
        return tree;
    }

    /// <summary>Loads like <see cref="Load"/> and also returns every tensor created (for lifetime management).</summary>
    internal static (object? Tree, IReadOnlyList<Tensor> Tensors) LoadWithTensors(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        DTypes.RequireLittleEndianHost();
        using var scope = torch.NewDisposeScope();
        using var fs = InputFile.OpenRead(path, "PyTorch file");
        CheckSignature(fs, path);
        ZipArchive zip;
        try
        {
            zip = new ZipArchive(fs, ZipArchiveMode.Read, leaveOpen: true);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{path}: not a readable zip archive (truncated or corrupt file?): {e.Message}", e);
        }
        using (zip)
        {
            string prefix = FindPrefix(zip, path);
            bool bigEndian = ReadByteOrder(zip, prefix, path);
            CheckVersion(zip, prefix, path);

            var pickleEntry = zip.GetEntry(prefix + "data.pkl")!;
            var pickle = ReadSmallEntry(pickleEntry, fs.Length, MaxPickleBytes, path);

            var storages = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            Tensor LoadStorage(StorageReference r)
            {
                if (storages.TryGetValue(r.Key, out var cached))
                {
                    if (cached.dtype != r.DType || cached.numel() != r.ElementCount)
                        throw new InvalidDataException($"{path}: storage '{r.Key}' is referenced as both {cached.dtype}[{cached.numel()}] " +
                                                       $"and {r.DType}[{r.ElementCount}].");
                    return cached;
                }
                var t = ReadStorage(zip, prefix, r, fs.Length, bigEndian, path);
                storages.Add(r.Key, t);
                return t;
            }

            var reader = new PickleReader(path, LoadStorage) { ShareWholeStorages = true };
            object? tree;
            try
            {
                tree = reader.Load(pickle);
            }
            catch (Exception e) when (e is not InvalidDataException and not OutOfMemoryException)
            {
                throw new InvalidDataException($"{path}: could not rebuild the pickled objects: {e.Message}", e);
            }
            var tensors = reader.RebuiltTensors.ToList();
            foreach (var t in tensors) t.MoveToOuterDisposeScope();
            return (tree, tensors);
        }
    }

    /// <summary>
    /// Writes <paramref name="stateDict"/> as a zip-format <c>.pth</c> that <c>torch.load</c> reads back as an
    /// <c>OrderedDict</c> with identical keys (in order), dtypes, shapes, values (bit for bit) and requires_grad flags.
    /// Tensors may live on any device and need not be contiguous. The file is written to a temporary file in the same
    /// folder and then renamed over <paramref name="path"/>.
    /// </summary>
    /// <exception cref="ArgumentException">A key is empty or repeated, or a tensor is null.</exception>
    /// <exception cref="NotSupportedException">A tensor's dtype has no PyTorch storage class here (e.g. complex).</exception>
    public static void SaveStateDict(string path, IEnumerable<(string Key, Tensor Value)> stateDict)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(stateDict);
        SaveStateDict(path, stateDict, forceZip64: false);
    }

    /// <summary>Implementation of <see cref="SaveStateDict(string, IEnumerable{ValueTuple{string, Tensor}})"/>; <paramref name="forceZip64"/> is for tests.</summary>
    internal static void SaveStateDict(string path, IEnumerable<(string Key, Tensor Value)> stateDict, bool forceZip64)
    {
        DTypes.RequireLittleEndianHost();
        using var scope = torch.NewDisposeScope();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var items = new List<StateDictPickleWriter.Item>();
        var data = new List<Tensor>();
        foreach (var (key, value) in stateDict)
        {
            if (string.IsNullOrEmpty(key)) throw new ArgumentException($"{path}: state_dict keys must be non-empty.", nameof(stateDict));
            if (value is null) throw new ArgumentException($"{path}: tensor '{key}' is null.", nameof(stateDict));
            if (!seen.Add(key)) throw new ArgumentException($"{path}: state_dict key '{key}' appears twice.", nameof(stateDict));
            string storageClass;
            try { storageClass = DTypes.StorageName(value.dtype); }
            catch (NotSupportedException e) { throw new NotSupportedException($"{path}: tensor '{key}': {e.Message}", e); }
            var c = value.detach().cpu().contiguous();
            var storageKey = data.Count.ToString(System.Globalization.CultureInfo.InvariantCulture);
            items.Add(new(key, storageClass, storageKey, c.numel(), c.shape, c.stride(), value.requires_grad));
            data.Add(c);
        }
        var pickle = StateDictPickleWriter.Write(items);

        AtomicFile.Write(path, fs =>
        {
            const string prefix = "archive/";
            var zip = new ZipStoreWriter(fs, forceZip64);
            zip.AddEntry(prefix + "data.pkl", pickle);
            zip.AddEntry(prefix + "byteorder", "little"u8);
            for (int i = 0; i < data.Count; i++)
            {
                var t = data[i];
                zip.BeginEntry(prefix + "data/" + items[i].StorageKey, checked(t.numel() * DTypes.ElementSize(t.dtype)));
                TensorBytes.WriteFrom(t, zip.Write);
                zip.EndEntry();
            }
            zip.AddEntry(prefix + "version", "3\n"u8);
            zip.Finish();
        });
    }

    // ---- reading helpers -------------------------------------------------------------------------------------

    private static void CheckSignature(FileStream fs, string path)
    {
        Span<byte> head = stackalloc byte[4];
        int n = fs.ReadAtLeast(head, 4, throwOnEndOfStream: false);
        fs.Position = 0;
        if (n == 0) throw new InvalidDataException($"{path}: file is empty, not a PyTorch archive.");
        if (n >= 1 && head[0] == 0x80) throw new InvalidDataException($"{path}: {LegacyMessage}.");
        if (n < 4 || head[0] != (byte)'P' || head[1] != (byte)'K' || !((head[2] == 3 && head[3] == 4) || (head[2] == 5 && head[3] == 6)))
            throw new InvalidDataException($"{path}: not a PyTorch file (no zip signature; expected a torch.save archive).");
    }

    private static string FindPrefix(ZipArchive zip, string path)
    {
        var candidates = new List<string>();
        foreach (var e in zip.Entries)
        {
            var name = e.FullName;
            if (name == "data.pkl") candidates.Add("");
            else if (name.EndsWith("/data.pkl", StringComparison.Ordinal) && name.IndexOf('/') == name.Length - "/data.pkl".Length)
                candidates.Add(name[..^"data.pkl".Length]);
        }
        if (candidates.Count == 0)
        {
            bool torchScript = zip.Entries.Any(e => e.FullName.EndsWith("constants.pkl", StringComparison.Ordinal));
            throw new InvalidDataException($"{path}: zip archive has no data.pkl record" +
                                           (torchScript ? " (it looks like a TorchScript archive; save a state_dict with torch.save instead)." : "; not a torch.save file."));
        }
        if (candidates.Count > 1)
            throw new InvalidDataException($"{path}: zip archive holds several data.pkl records ({string.Join(", ", candidates.Select(c => c + "data.pkl"))}).");
        if (zip.GetEntry(candidates[0] + "constants.pkl") != null)
            throw new InvalidDataException($"{path}: this is a TorchScript archive (torch.jit.save), not a torch.save file; " +
                                           "in Python, save its state_dict with torch.save(model.state_dict(), path) instead.");
        return candidates[0];
    }

    private static bool ReadByteOrder(ZipArchive zip, string prefix, string path)
    {
        var e = zip.GetEntry(prefix + "byteorder");
        if (e == null) return false;
        var text = Encoding.ASCII.GetString(ReadSmallEntry(e, long.MaxValue, 64, path)).Trim();
        return text switch
        {
            "little" => false,
            "big" => true,
            _ => throw new InvalidDataException($"{path}: unknown byteorder record '{text}'."),
        };
    }

    private static void CheckVersion(ZipArchive zip, string prefix, string path)
    {
        var e = zip.GetEntry(prefix + "version") ?? zip.GetEntry(prefix + ".data/version");
        if (e == null) return;
        var text = Encoding.ASCII.GetString(ReadSmallEntry(e, long.MaxValue, 64, path)).Trim();
        if (!long.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out _))
            throw new InvalidDataException($"{path}: version record '{text}' is not a number.");
    }

    private static byte[] ReadSmallEntry(ZipArchiveEntry e, long fileLength, long limit, string path)
    {
        CheckEntryLength(e, fileLength, path);
        if (e.Length > limit) throw new InvalidDataException($"{path}: record '{e.FullName}' is {e.Length} bytes, over the limit of {limit}.");
        var buf = new byte[e.Length];
        try
        {
            using var s = e.Open();
            s.ReadExactly(buf);
        }
        catch (Exception ex) when (ex is EndOfStreamException or InvalidDataException or IOException)
        {
            throw new InvalidDataException($"{path}: record '{e.FullName}' cannot be read (truncated or corrupt file?): {ex.Message}", ex);
        }
        return buf;
    }

    /// <summary>Rejects entries whose declared size could not come from this file (lying headers).</summary>
    private static void CheckEntryLength(ZipArchiveEntry e, long fileLength, string path)
    {
        // Stored entries cannot be larger than the file; deflate cannot expand more than ~1032:1.
        long bound = e.CompressedLength == e.Length ? fileLength
                   : e.CompressedLength > long.MaxValue / 1100 ? long.MaxValue : e.CompressedLength * 1100;
        if (e.Length < 0 || e.Length > bound)
            throw new InvalidDataException($"{path}: record '{e.FullName}' claims {e.Length} bytes, impossible for a {fileLength}-byte file.");
    }

    private static Tensor ReadStorage(ZipArchive zip, string prefix, StorageReference r, long fileLength, bool bigEndian, string path)
    {
        var name = prefix + "data/" + r.Key;
        var e = zip.GetEntry(name) ?? throw new InvalidDataException($"{path}: storage record '{name}' is missing.");
        CheckEntryLength(e, fileLength, path);
        long expected;
        try { expected = checked(r.ElementCount * DTypes.ElementSize(r.DType)); }
        catch (OverflowException) { throw new InvalidDataException($"{path}: storage '{r.Key}' element count {r.ElementCount} overflows."); }
        if (e.Length != expected)
            throw new InvalidDataException($"{path}: storage record '{name}' holds {e.Length} bytes, but the pickle declares " +
                                           $"{r.ElementCount} × {r.DType} = {expected} bytes.");
        var t = torch.empty(new[] { r.ElementCount }, dtype: r.DType);
        try
        {
            using var s = e.Open();
            TensorBytes.ReadInto(t, s, $"{path}: storage record '{name}'", bigEndian);
        }
        catch (Exception ex) when (ex is IOException and not EndOfStreamException || ex is InvalidDataException && !ex.Message.StartsWith(path, StringComparison.Ordinal))
        {
            throw new InvalidDataException($"{path}: storage record '{name}' cannot be read (truncated or corrupt file?): {ex.Message}", ex);
        }
        return t;
    }
}
