namespace CrateMae.Interop;

/// <summary>
/// A state_dict does not fit a module: lists every missing, unexpected, repeated and mis-shaped key at once.
/// (An <see cref="ArgumentException"/>: the tensors passed in do not fit the module; its message names the source file.)
/// </summary>
public sealed class StateDictMismatchException : ArgumentException
{
    /// <summary>Creates the exception; the message is built from the lists.</summary>
    public StateDictMismatchException(string sourceName, string moduleName, IReadOnlyList<string> missing, IReadOnlyList<string> unexpected,
                                      IReadOnlyList<string> duplicated, IReadOnlyList<(string Key, long[] Expected, long[] Found)> misshaped)
        : base(BuildMessage(sourceName, moduleName, missing, unexpected, duplicated, misshaped))
    {
        SourceName = sourceName;
        Missing = missing;
        Unexpected = unexpected;
        Duplicated = duplicated;
        Misshaped = misshaped;
    }

    /// <summary>The file (or other source) the tensors came from.</summary>
    public string SourceName { get; }

    /// <summary>Keys the module expects but the source lacks.</summary>
    public IReadOnlyList<string> Missing { get; }

    /// <summary>Keys in the source the module does not have.</summary>
    public IReadOnlyList<string> Unexpected { get; }

    /// <summary>Keys the source lists more than once.</summary>
    public IReadOnlyList<string> Duplicated { get; }

    /// <summary>Keys whose shapes differ: the module's (expected) and the source's (found).</summary>
    public IReadOnlyList<(string Key, long[] Expected, long[] Found)> Misshaped { get; }

    /// <summary>At most this many keys of each kind are named in the message (the properties hold all of them).</summary>
    public const int KeysShown = 6;

    private static string BuildMessage(string source, string module, IReadOnlyList<string> missing, IReadOnlyList<string> unexpected,
                                       IReadOnlyList<string> duplicated, IReadOnlyList<(string Key, long[] Expected, long[] Found)> misshaped)
    {
        static string Some(IEnumerable<string> items, int count) =>
            string.Join(", ", items.Take(KeysShown)) + (count > KeysShown ? $", … ({count - KeysShown} more)" : "");
        var parts = new List<string>();
        if (missing.Count > 0) parts.Add($"missing keys ({missing.Count}): {Some(missing, missing.Count)}");
        if (unexpected.Count > 0) parts.Add($"unexpected keys ({unexpected.Count}): {Some(unexpected, unexpected.Count)}");
        if (duplicated.Count > 0) parts.Add($"repeated keys ({duplicated.Count}): {Some(duplicated, duplicated.Count)}");
        if (misshaped.Count > 0)
            parts.Add($"mis-shaped keys ({misshaped.Count}): " +
                      Some(misshaped.Select(m => $"{m.Key} expected {DTypes.FormatShape(m.Expected)} found {DTypes.FormatShape(m.Found)}"), misshaped.Count));
        bool otherArchitecture = misshaped.Count > 0 || missing.Count + unexpected.Count > 2;
        return $"{source}: state_dict does not match {module}: {string.Join("; ", parts)}." +
               (otherArchitecture ? " The weights belong to a different architecture than the one requested (check --model)." : "");
    }
}
