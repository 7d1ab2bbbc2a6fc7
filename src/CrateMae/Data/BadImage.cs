namespace CrateMae.Data;

/// <summary>A file that <see cref="ImageFolder"/> skipped, and why.</summary>
/// <param name="Path">The file.</param>
/// <param name="Reason">What was wrong (zero bytes, not decodable, too large, ...), as a message naming the file.</param>
public sealed record BadImage(string Path, string Reason);
