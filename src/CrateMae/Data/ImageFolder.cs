namespace CrateMae.Data;

/// <summary>
/// Images in a folder, ImageNet style: <c>root/&lt;class&gt;/**/*.png|jpg|jpeg|bmp|webp</c>, classes = subfolder names sorted
/// ordinally, files sorted ordinally by relative path. A folder with images directly inside and no class subfolders is opened as
/// an unlabeled dataset. Images are decoded lazily with SkiaSharp into 3-channel RGB (gray images are replicated, alpha is dropped).
/// Thread-safe: every read opens its own file.
/// </summary>
public sealed class ImageFolder : IImageDataset
{
    private readonly string[] _files;
    private readonly int[]? _labels;
    private readonly (int Width, int Height)[]? _sizes;
    private readonly long _maxPixels;

    private ImageFolder(string root, string[] files, int[]? labels, string[] classNames, (int, int)[]? sizes,
                        BadImage[] skipped, long maxPixels)
    {
        Root = root;
        _files = files;
        _labels = labels;
        _sizes = sizes;
        _maxPixels = maxPixels;
        ClassNames = classNames;
        SkippedFiles = skipped;
        Name = $"folder:{root}";
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <summary>The folder that was opened (full path).</summary>
    public string Root { get; }

    /// <inheritdoc />
    public int Count => _files.Length;

    /// <summary>Always 3: every image is decoded to RGB.</summary>
    public int Channels => 3;

    /// <summary>Always null: images may have any size (see <see cref="GetImageSize"/>).</summary>
    public int? NativeSize => null;

    /// <inheritdoc />
    public int NumClasses => ClassNames.Count;

    /// <inheritdoc />
    public IReadOnlyList<string> ClassNames { get; }

    /// <summary>ImageNet statistics.</summary>
    public NormalizationStats DefaultNormalization => NormalizationStats.ImageNet;

    /// <summary>True when the images came from class subfolders.</summary>
    public bool IsLabeled => _labels is not null;

    /// <summary>The image files, in dataset order.</summary>
    public IReadOnlyList<string> Files => _files;

    /// <summary>Files left out because <see cref="ImageFolderOptions.SkipBadImages"/> was set (empty otherwise).</summary>
    public IReadOnlyList<BadImage> SkippedFiles { get; }

    /// <summary>Number of skipped files.</summary>
    public int SkippedCount => SkippedFiles.Count;

    /// <summary>Scans <paramref name="root"/> (no pixel decoding unless headers are validated, see <paramref name="options"/>).</summary>
    /// <exception cref="DirectoryNotFoundException">When the folder does not exist.</exception>
    /// <exception cref="InvalidDataException">
    /// When no images are found, a class folder holds no images, images sit both at the top level and in class folders, or
    /// (without <see cref="ImageFolderOptions.SkipBadImages"/>) a file is empty, undecodable or too large. The message names the path.
    /// </exception>
    public static ImageFolder Open(string root, ImageFolderOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(root);
        options ??= new ImageFolderOptions();
        if (options.MaxPixels <= 0)
            throw new ArgumentException($"ImageFolderOptions.MaxPixels must be positive, got {options.MaxPixels}.", nameof(options));
        var full = Path.GetFullPath(root);
        if (!Directory.Exists(full))
            throw File.Exists(full)
                ? new DirectoryNotFoundException($"Image folder '{full}' is a file, not a folder (give the folder that holds the images).")
                : new DirectoryNotFoundException($"Image folder '{full}' does not exist.");
        var extensions = new HashSet<string>(options.Extensions, StringComparer.OrdinalIgnoreCase);
        if (extensions.Count == 0)
            throw new ArgumentException("ImageFolderOptions.Extensions is empty.", nameof(options));

        var enumerate = new EnumerationOptions { RecurseSubdirectories = false, AttributesToSkip = FileAttributes.Hidden | FileAttributes.System };
        var recursive = new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = FileAttributes.Hidden | FileAttributes.System };
        bool IsImage(string p) => extensions.Contains(Path.GetExtension(p));

        var topFiles = Directory.EnumerateFiles(full, "*", enumerate).Where(IsImage).Order(StringComparer.Ordinal).ToList();
        var classDirs = Directory.EnumerateDirectories(full, "*", enumerate).Order(StringComparer.Ordinal).ToList();
        var perClass = classDirs
            .Select(d => (Dir: d, Files: Directory.EnumerateFiles(d, "*", recursive).Where(IsImage).Order(StringComparer.Ordinal).ToList()))
            .ToList();
        bool anyClassImages = perClass.Any(c => c.Files.Count > 0);
        string extList = string.Join(", ", extensions.Order(StringComparer.Ordinal));

        List<(string Path, int Label)> candidates;
        string[] classNames;
        if (anyClassImages)
        {
            if (topFiles.Count > 0)
                throw new InvalidDataException(
                    $"Image folder '{full}' has {topFiles.Count} image(s) at the top level (e.g. '{topFiles[0]}') and class subfolders; " +
                    "expected either root/<class>/<images> (labeled) or root/<images> (unlabeled), not both.");
            var empty = perClass.FirstOrDefault(c => c.Files.Count == 0);
            if (empty.Dir is not null)
                throw new InvalidDataException(
                    $"Image folder '{full}': class folder '{empty.Dir}' contains no image files ({extList}); remove it or add images.");
            classNames = perClass.Select(c => Path.GetFileName(c.Dir)).ToArray();
            candidates = perClass.SelectMany((c, label) => c.Files.Select(f => (f, label))).ToList();
        }
        else
        {
            if (topFiles.Count == 0)
                throw new InvalidDataException(
                    $"Image folder '{full}' contains no image files ({extList}) at the top level or in class subfolders.");
            classNames = [];
            candidates = topFiles.Select(f => (f, -1)).ToList();
        }

        bool readHeaders = options.ValidateHeaders || options.SkipBadImages;
        var files = new List<string>(candidates.Count);
        var labels = new List<int>(candidates.Count);
        var sizes = readHeaders ? new List<(int, int)>(candidates.Count) : null;
        var skipped = new List<BadImage>();
        // With SkipBadImages every file is decoded once (in parallel), so truncated pixel data is found now and not in the
        // middle of training; otherwise only the header (ValidateHeaders) or nothing beyond the length is read.
        var checks = new ((int, int) Size, string? Problem)[candidates.Count];
        Parallel.For(0, candidates.Count, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, i =>
        {
            var path = candidates[i].Path;
            (int, int) size = default;
            string? problem = null;
            var info = new FileInfo(path);
            if (!info.Exists)
            {
                problem = $"Image file '{path}' cannot be read (a broken link, or removed while the folder was scanned).";
            }
            else if (info.Length == 0)
            {
                problem = $"Image file '{path}' is empty (0 bytes).";
            }
            else if (readHeaders)
            {
                try
                {
                    if (options.SkipBadImages)
                    {
                        var image = SkiaDecoder.DecodeRgb(path, options.MaxPixels);
                        size = (image.Width, image.Height);
                    }
                    else
                    {
                        size = SkiaDecoder.ReadSize(path, options.MaxPixels);
                    }
                }
                catch (InvalidDataException e)
                {
                    problem = e.Message;
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    problem = $"Image file '{path}' cannot be read ({e.Message.TrimEnd('.')}).";
                }
            }
            checks[i] = (size, problem);
        });
        for (int i = 0; i < candidates.Count; i++)
        {
            var (path, label) = candidates[i];
            var (size, problem) = checks[i];
            if (problem is not null)
            {
                if (!options.SkipBadImages)
                    throw new InvalidDataException(problem + " (Skip such files with --skip-bad-images, or ImageFolderOptions.SkipBadImages = true.)");
                skipped.Add(new BadImage(path, problem));
                continue;
            }
            files.Add(path);
            labels.Add(label);
            sizes?.Add(size);
        }
        if (files.Count == 0)
            throw new InvalidDataException($"Image folder '{full}': all {candidates.Count} image files were unreadable and skipped (first: {skipped[0].Reason}).");
        if (anyClassImages && options.SkipBadImages)
        {
            var present = new HashSet<int>(labels);
            var lost = Enumerable.Range(0, classNames.Length).Where(c => !present.Contains(c)).Select(c => classNames[c]).ToList();
            if (lost.Count > 0)
                throw new InvalidDataException(
                    $"Image folder '{full}': every image of class(es) {string.Join(", ", lost.Select(l => $"'{l}'"))} was unreadable and skipped.");
        }

        return new ImageFolder(full, files.ToArray(), anyClassImages ? labels.ToArray() : null, classNames,
                               sizes?.ToArray(), skipped.ToArray(), options.MaxPixels);
    }

    /// <inheritdoc />
    public int GetLabel(int index)
    {
        CheckIndex(index);
        return _labels is null ? -1 : _labels[index];
    }

    /// <inheritdoc />
    public (int Height, int Width) GetImageSize(int index)
    {
        CheckIndex(index);
        var (w, h) = _sizes is not null ? _sizes[index] : SkiaDecoder.ReadSize(_files[index], _maxPixels);
        return (h, w);
    }

    /// <inheritdoc />
    public ImageData ReadImage(int index)
    {
        CheckIndex(index);
        return SkiaDecoder.DecodeRgb(_files[index], _maxPixels);
    }

    /// <inheritdoc />
    public override string ToString() =>
        $"{Name}: {Count} images, {(IsLabeled ? $"{NumClasses} classes" : "unlabeled")}{(SkippedCount > 0 ? $", {SkippedCount} skipped" : "")}";

    private void CheckIndex(int index)
    {
        if ((uint)index >= (uint)_files.Length)
            throw new ArgumentOutOfRangeException(nameof(index), index, $"{Name}: index must be in [0, {_files.Length}).");
    }
}
