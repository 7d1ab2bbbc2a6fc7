namespace CrateMae.Cli.Commands;

/// <summary>
/// Option spellings of the previous release that still work for this one: each is replaced by its current name, with a
/// one-line notice on stderr (<c>warning: --batch is deprecated; use --batch-size</c>).
/// </summary>
public static class DeprecatedOptions
{
    /// <summary>(command, or null for every command; old spelling; current name).</summary>
    public static readonly IReadOnlyList<(string? Command, string Old, string New)> Renamed =
    [
        ("bench", "--batch", "--batch-size"),
        ("analyze", "--images", "--limit"),
        ("attention", "--images", "--limit"),
        ("report", "--images", "--limit"),
        (null, "--out", "--output"),
    ];

    /// <summary>
    /// <paramref name="args"/> with the old spellings of the command (<c>args[0]</c>) replaced, also in the
    /// <c>--old=value</c> form; writes one notice per replaced spelling to <paramref name="warnings"/>.
    /// </summary>
    public static string[] Rewrite(string[] args, TextWriter warnings)
    {
        if (args.Length == 0) return args;
        var command = args[0];
        var result = (string[])args.Clone();
        var warned = new HashSet<string>();
        for (int i = 1; i < result.Length; i++)
        {
            if (result[i] == "--") break;    // everything after "--" is data, not options
            foreach (var (cmd, old, current) in Renamed)
            {
                if (cmd is not null && cmd != command) continue;
                string? replaced = result[i] == old ? current
                    : result[i].StartsWith(old + "=", StringComparison.Ordinal) ? current + result[i][old.Length..] : null;
                if (replaced is null) continue;
                result[i] = replaced;
                if (warned.Add(old)) warnings.WriteLine($"warning: {old} is deprecated; use {current}");
                break;
            }
        }
        return result;
    }
}
