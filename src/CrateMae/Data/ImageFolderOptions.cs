namespace CrateMae.Data;

/// <summary>Options for <see cref="ImageFolder.Open"/>.</summary>
public sealed record ImageFolderOptions
{
    /// <summary>The default image file extensions (case-insensitive).</summary>
    public static IReadOnlyList<string> DefaultExtensions { get; } = [".png", ".jpg", ".jpeg", ".bmp", ".webp"];

    /// <summary>
    /// When true, zero-byte files and files that cannot be decoded (bad header, truncated pixel data, too large) are left out
    /// of the dataset and listed in <see cref="ImageFolder.SkippedFiles"/>; every file is decoded once while opening (in
    /// parallel) to find them. When false (default) such a file is an error naming it.
    /// Setting this implies <see cref="ValidateHeaders"/>.
    /// </summary>
    public bool SkipBadImages { get; init; }

    /// <summary>
    /// When true, every file's header is read while opening (fast: no pixel decoding), so undecodable or oversized files are found
    /// up front instead of at first use. Default false: only zero-byte files are detected at open time.
    /// </summary>
    public bool ValidateHeaders { get; init; }

    /// <summary>Images with more pixels than this (width × height, read from the header before decoding) are refused. Default 64 megapixels.</summary>
    public long MaxPixels { get; init; } = 64L * 1000 * 1000;

    /// <summary>File extensions (with the dot, case-insensitive) that count as images.</summary>
    public IReadOnlyList<string> Extensions { get; init; } = DefaultExtensions;
}
