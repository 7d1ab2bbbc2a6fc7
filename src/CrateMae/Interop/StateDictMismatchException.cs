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

    private static string BuildMessage(string source, string module, IReadOnlyList<string> missing, IReadOnlyList<string> unexpected,
                                       IReadOnlyList<string> duplicated, IReadOnlyList<(string Key, long[] Expected, long[] Found)> misshaped)
    {
        var parts = new List<string>();
        if (missing.Count > 0) parts.Add($"missing keys ({missing.Count}): {string.Join(", ", missing)}");
        if (unexpected.Count > 0) parts.Add($"unexpected keys ({unexpected.Count}): {string.Join(", ", unexpected)}");
        if (duplicated.Count > 0) parts.Add($"repeated keys ({duplicated.Count}): {string.Join(", ", duplicated)}");
        if (misshaped.Count > 0)
            parts.Add($"mis-shaped keys ({misshaped.Count}): " +
                      string.Join(", ", misshaped.Select(m => $"{m.Key} expected {DTypes.FormatShape(m.Expected)} found {DTypes.FormatShape(m.Found)}")));
        return $"{source}: state_dict does not match {module}: {string.Join("; ", parts)}.";
    }
}
