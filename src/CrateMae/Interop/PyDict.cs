using System.Collections;
using System.Diagnostics.CodeAnalysis;

namespace CrateMae.Interop;

/// <summary>
/// An insertion-ordered dictionary produced by <see cref="PickleReader"/> for Python <c>dict</c>,
/// <c>collections.OrderedDict</c> and <c>argparse.Namespace</c> objects (a namespace becomes a dictionary of its
/// attributes). Keys are <see cref="string"/>, <see cref="long"/>, <see cref="bool"/>, <see cref="double"/> or other
/// unpickled values; re-assigning a key keeps its original position, as in Python.
/// </summary>
public sealed class PyDict : IReadOnlyDictionary<object, object?>
{
    private readonly List<KeyValuePair<object, object?>> _items = new();
    private readonly Dictionary<object, int> _index = new();
    private Dictionary<string, object?>? _attributes;

    /// <summary>Creates an empty dictionary of the given Python type name.</summary>
    /// <param name="typeName">E.g. <c>dict</c>, <c>collections.OrderedDict</c> or <c>argparse.Namespace</c>.</param>
    public PyDict(string typeName = "dict") => TypeName = typeName;

    /// <summary>The Python type this dictionary came from (<c>dict</c>, <c>collections.OrderedDict</c>, <c>argparse.Namespace</c>).</summary>
    public string TypeName { get; }

    /// <summary>
    /// Instance attributes set on the object by the pickle (e.g. the <c>_metadata</c> of a PyTorch state_dict's
    /// OrderedDict). Empty for plain dictionaries.
    /// </summary>
    public IReadOnlyDictionary<string, object?> Attributes =>
        (IReadOnlyDictionary<string, object?>?)_attributes ?? new Dictionary<string, object?>();

    /// <inheritdoc />
    public int Count => _items.Count;

    /// <inheritdoc />
    public object? this[object key] => _items[_index[key]].Value;

    /// <inheritdoc />
    public IEnumerable<object> Keys => _items.Select(kv => kv.Key);

    /// <inheritdoc />
    public IEnumerable<object?> Values => _items.Select(kv => kv.Value);

    /// <inheritdoc />
    public bool ContainsKey(object key) => _index.ContainsKey(key);

    /// <inheritdoc />
    public bool TryGetValue(object key, [MaybeNullWhen(false)] out object? value)
    {
        if (_index.TryGetValue(key, out var i)) { value = _items[i].Value; return true; }
        value = null;
        return false;
    }

    /// <summary>Gets the entry at <paramref name="position"/> in insertion order.</summary>
    public KeyValuePair<object, object?> GetAt(int position) => _items[position];

    /// <inheritdoc />
    public IEnumerator<KeyValuePair<object, object?>> GetEnumerator() => _items.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>Sets <paramref name="key"/> (appends it if new, keeps its position otherwise).</summary>
    internal void Set(object key, object? value)
    {
        if (_index.TryGetValue(key, out var i)) _items[i] = new(key, value);
        else
        {
            _index.Add(key, _items.Count);
            _items.Add(new(key, value));
        }
    }

    /// <summary>Sets an instance attribute (pickle BUILD state).</summary>
    internal void SetAttribute(string name, object? value) => (_attributes ??= new())[name] = value;

    /// <inheritdoc />
    public override string ToString() => $"{TypeName} ({Count} entries)";
}
