using static TorchSharp.torch;

namespace CrateMae.Interop;

/// <summary>
/// A state_dict read from a file: a plain <c>torch.save(model.state_dict())</c> archive, an MAE-style training
/// checkpoint (a dict whose <c>model</c> entry is the state_dict, next to e.g. <c>optimizer</c>, <c>epoch</c> and
/// <c>args</c>), or a <c>.safetensors</c> file.
/// </summary>
/// <remarks>Disposing the instance disposes every tensor it loaded (including the checkpoint's other tensors).</remarks>
public sealed class StateDictFile : IDisposable
{
    private readonly IReadOnlyList<Tensor> _owned;
    private readonly Dictionary<string, int> _index;

    private StateDictFile(string path, IReadOnlyList<(string Key, Tensor Value)> tensors, IReadOnlyDictionary<string, string>? args,
                          object? checkpoint, bool isCheckpoint, IReadOnlyList<Tensor> owned)
    {
        Path = path;
        Tensors = tensors;
        Args = args;
        Checkpoint = checkpoint;
        IsCheckpoint = isCheckpoint;
        _owned = owned;
        _index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < tensors.Count; i++) _index[tensors[i].Key] = i;
    }

    /// <summary>The file the state_dict was read from.</summary>
    public string Path { get; }

    /// <summary>The state_dict entries in file order (contiguous CPU tensors).</summary>
    public IReadOnlyList<(string Key, Tensor Value)> Tensors { get; }

    /// <summary>
    /// The checkpoint's <c>args</c> (an <c>argparse.Namespace</c> or dict) as strings formatted like Python's
    /// <c>str()</c> (e.g. <c>Args["model"] == "mae_crate_mini"</c>, <c>Args["mask_ratio"] == "0.75"</c>);
    /// <see langword="null"/> when the file has no <c>args</c>. A hint only: it does not determine a model config.
    /// </summary>
    public IReadOnlyDictionary<string, string>? Args { get; }

    /// <summary>
    /// The whole unpickled object tree (see <see cref="PickleReader"/>): for an MAE checkpoint the outer dict with
    /// <c>model</c>, <c>epoch</c>, <c>args</c>, …; for a plain state_dict the state_dict itself;
    /// <see langword="null"/> for safetensors files.
    /// </summary>
    public object? Checkpoint { get; }

    /// <summary><see langword="true"/> when the state_dict came from the <c>model</c> entry of a checkpoint dict.</summary>
    public bool IsCheckpoint { get; }

    /// <summary>Number of state_dict entries.</summary>
    public int Count => Tensors.Count;

    /// <summary>The tensor stored under <paramref name="key"/>.</summary>
    /// <exception cref="KeyNotFoundException">No such key; the message names the file.</exception>
    public Tensor this[string key] =>
        _index.TryGetValue(key, out var i) ? Tensors[i].Value : throw new KeyNotFoundException($"{Path}: no state_dict entry '{key}'.");

    /// <summary>Looks up a tensor by key.</summary>
    public bool TryGetTensor(string key, out Tensor? tensor)
    {
        if (_index.TryGetValue(key, out var i)) { tensor = Tensors[i].Value; return true; }
        tensor = null;
        return false;
    }

    /// <summary>
    /// Loads a state_dict. Files ending in <c>.safetensors</c> are read with <see cref="Safetensors.Load"/>; anything
    /// else must be a zip-format <c>torch.save</c> archive holding either a state_dict (a dict of tensors) or a
    /// checkpoint dict whose <c>model</c> entry is one.
    /// </summary>
    /// <exception cref="InvalidDataException">The file cannot be read or holds no state_dict; the message names the file.</exception>
    public static StateDictFile Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase))
        {
            var st = Safetensors.Load(path);
            return new StateDictFile(path, st.Tensors, null, null, false, st.Tensors.Select(t => t.Value).ToList());
        }

        var (tree, owned) = PyTorchFile.LoadWithTensors(path);
        try
        {
            if (tree is not PyDict top)
                throw new InvalidDataException($"{path}: holds a {Describe(tree)}, not a state_dict or checkpoint dict.");
            bool isCheckpoint = top.TryGetValue("model", out var model) && model is PyDict;
            var sd = isCheckpoint ? (PyDict)model! : top;
            var tensors = new List<(string, Tensor)>(sd.Count);
            foreach (var kv in sd)
            {
                if (kv.Key is not string key)
                    throw new InvalidDataException($"{path}: state_dict key {PyRepr.Str(kv.Key)} is not a string.");
                if (kv.Value is not Tensor t)
                {
                    var hint = isCheckpoint ? "" : $" (top-level keys: {string.Join(", ", top.Keys.Take(10).Select(PyRepr.Str))}" +
                                                   "; a checkpoint must keep its state_dict under 'model')";
                    throw new InvalidDataException($"{path}: state_dict entry '{key}' is a {Describe(kv.Value)}, not a tensor{hint}.");
                }
                tensors.Add((key, t));
            }
            IReadOnlyDictionary<string, string>? args = null;
            if (isCheckpoint && top.TryGetValue("args", out var a) && a is PyDict ad)
            {
                var d = new Dictionary<string, string>(StringComparer.Ordinal);
                foreach (var kv in ad) d[PyRepr.Str(kv.Key)] = PyRepr.Str(kv.Value);
                args = d;
            }
            return new StateDictFile(path, tensors, args, tree, isCheckpoint, owned);
        }
        catch
        {
            foreach (var t in owned) t.Dispose();
            throw;
        }
    }

    /// <summary>Disposes every tensor loaded from the file.</summary>
    public void Dispose()
    {
        foreach (var t in _owned) t.Dispose();
    }

    private static string Describe(object? o) => o switch
    {
        null => "None",
        PyDict d => d.TypeName,
        object?[] => "tuple",
        List<object?> => "list",
        Tensor => "tensor",
        string => "str",
        long => "int",
        double => "float",
        bool => "bool",
        _ => o.GetType().Name,
    };
}
