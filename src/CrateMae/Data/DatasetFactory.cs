namespace CrateMae.Data;

/// <summary>Opens a dataset from a short textual spec (as given on the command line).</summary>
public static class DatasetFactory
{
    /// <summary>Human-readable list of the accepted spec forms (also part of every parse error).</summary>
    public const string AcceptedForms =
        "fashion-mnist | fashion-mnist:test | fashion-mnist:/dir[:test] (default dir " + FashionMnist.DefaultDirectory + "), " +
        "mnist:/dir[:test], cifar10:/path/to/cifar-10-batches-bin[:test], cifar100:/path/to/cifar-100-binary[:test], " +
        "folder:/path/to/images[:test] (ImageNet layout root/<class>/*.jpg, or a flat folder of images = unlabeled; " +
        "if the folder has train/ and val/ (or test/) subfolders, the split picks one). The split suffix is :train or :test (:val = :test).";

    /// <summary>
    /// Opens <paramref name="spec"/>. The form is <c>kind[:path][:split]</c> with kind one of <c>fashion-mnist</c> (aliases
    /// <c>fashionmnist</c>, <c>fmnist</c>), <c>mnist</c>, <c>cifar10</c> (<c>cifar-10</c>), <c>cifar100</c> (<c>cifar-100</c>),
    /// <c>folder</c> (<c>imagefolder</c>), case-insensitive. A split in the spec overrides <paramref name="split"/>.
    /// </summary>
    /// <param name="spec">The spec, e.g. <c>fashion-mnist:test</c> or <c>cifar10:/data/cifar-10-batches-bin</c>.</param>
    /// <param name="split">The split to open when the spec does not name one.</param>
    /// <param name="folderOptions">Options for <c>folder:</c> specs.</param>
    /// <exception cref="ArgumentException">When the spec is empty, the kind is unknown, or a required path is missing (lists the accepted forms).</exception>
    /// <exception cref="IOException">Propagated from the reader (missing or malformed files, naming the file).</exception>
    public static IImageDataset Open(string spec, DataSplit split = DataSplit.Train, ImageFolderOptions? folderOptions = null)
    {
        var (kind, path, specSplit) = Parse(spec);
        split = specSplit ?? split;
        switch (kind)
        {
            case "fashion-mnist":
                return FashionMnist.Open(path ?? FashionMnist.DefaultDirectory, split);
            case "mnist":
                return Mnist.Open(path ?? throw MissingPath(spec, kind), split);
            case "cifar10":
                return Cifar10.Open(path ?? throw MissingPath(spec, kind), split);
            case "cifar100":
                return Cifar100.Open(path ?? throw MissingPath(spec, kind), split);
            case "folder":
                return ImageFolder.Open(ResolveFolderSplit(path ?? throw MissingPath(spec, kind), split), folderOptions);
            default:
                throw new ArgumentException($"Unknown dataset kind '{kind}' in spec '{spec}'. Accepted: {AcceptedForms}", nameof(spec));
        }
    }

    /// <summary>
    /// Splits a spec into (canonical kind, path or null, split or null) without touching the file system.
    /// </summary>
    /// <exception cref="ArgumentException">When the spec is empty or the kind is unknown.</exception>
    public static (string Kind, string? Path, DataSplit? Split) Parse(string spec)
    {
        if (string.IsNullOrWhiteSpace(spec))
            throw new ArgumentException($"Empty dataset spec. Accepted: {AcceptedForms}", nameof(spec));
        spec = spec.Trim();
        int colon = spec.IndexOf(':');
        string rawKind = colon < 0 ? spec : spec[..colon];
        string? rest = colon < 0 ? null : spec[(colon + 1)..];
        string kind = rawKind.ToLowerInvariant() switch
        {
            "fashion-mnist" or "fashionmnist" or "fashion_mnist" or "fmnist" => "fashion-mnist",
            "mnist" => "mnist",
            "cifar10" or "cifar-10" => "cifar10",
            "cifar100" or "cifar-100" => "cifar100",
            "folder" or "imagefolder" or "image-folder" => "folder",
            _ => throw new ArgumentException($"Unknown dataset kind '{rawKind}' in spec '{spec}'. Accepted: {AcceptedForms}", nameof(spec)),
        };

        DataSplit? split = null;
        if (rest is not null)
        {
            if (TryParseSplit(rest, out var only))
            {
                return (kind, null, only);
            }
            int last = rest.LastIndexOf(':');
            if (last >= 0 && TryParseSplit(rest[(last + 1)..], out var suffix))
            {
                split = suffix;
                rest = rest[..last];
            }
            if (rest.Length == 0) rest = null;
        }
        return (kind, rest, split);
    }

    private static bool TryParseSplit(string s, out DataSplit split)
    {
        switch (s.Trim().ToLowerInvariant())
        {
            case "train":
                split = DataSplit.Train;
                return true;
            case "test" or "val" or "valid" or "validation":
                split = DataSplit.Test;
                return true;
            default:
                split = default;
                return false;
        }
    }

    private static string ResolveFolderSplit(string root, DataSplit split)
    {
        var train = Path.Combine(root, "train");
        var val = new[] { "val", "test" }.Select(n => Path.Combine(root, n)).FirstOrDefault(Directory.Exists);
        if (!Directory.Exists(train) || val is null) return root;
        return split == DataSplit.Train ? train : val;
    }

    private static ArgumentException MissingPath(string spec, string kind) =>
        new($"Dataset spec '{spec}': '{kind}' needs a path, e.g. '{kind}:/data/{kind}'. Accepted: {AcceptedForms}", "spec");
}
