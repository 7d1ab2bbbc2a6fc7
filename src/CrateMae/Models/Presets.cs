using CrateMae.IO;
namespace CrateMae.Models;

/// <summary>Named model configurations: the official factories (spec §1.1), the paper's MAE-Small (§5) and CPU-sized presets.</summary>
public static class Presets
{
    private static MaeConfig Crate(string name, int dim, int depth, int heads) => new()
    {
        Name = name, Kind = BlockKind.Crate, EmbedDim = dim, Depth = depth, NumHeads = heads,
        DecoderEmbedDim = dim, DecoderDepth = depth, DecoderNumHeads = heads,
    };

    private static MaeConfig RepoVit(string name, int dim, int depth, int heads, int patch = 16) => new()
    {
        Name = name, Kind = BlockKind.Vit, PatchSize = patch, EmbedDim = dim, Depth = depth, NumHeads = heads,
        DecoderEmbedDim = dim, DecoderDepth = 8, DecoderNumHeads = 16,
    };

    private static readonly MaeConfig[] All =
    [
        Crate("crate-tiny", 384, 12, 6),
        Crate("crate-small", 576, 12, 12),
        Crate("crate-base", 768, 12, 12),
        Crate("crate-large", 1024, 24, 16),
        RepoVit("mae-vit-base", 768, 12, 12),
        RepoVit("mae-vit-large", 1024, 24, 16),
        RepoVit("mae-vit-huge", 1280, 32, 16, patch: 14),
        // The paper's 47.6M "ViT-MAE-Small": ViT-S encoder + MAE's standard 512-wide, 8-deep decoder. Its decoder is
        // narrower than the encoder, so only official-MAE semantics can run it (spec §3.8); official MAE flavour.
        new MaeConfig
        {
            Name = "mae-vit-small", Kind = BlockKind.Vit, Semantics = MaeSemantics.OfficialMae,
            EmbedDim = 384, Depth = 12, NumHeads = 6, DecoderEmbedDim = 512, DecoderDepth = 8, DecoderNumHeads = 16,
            QkvBias = true, VitNormEps = 1e-6,
        },
        // CPU-sized presets for 28×28 grayscale (Fashion-MNIST): patch 4 → 7×7 = 49 patches.
        new MaeConfig
        {
            Name = "crate-fmnist", Kind = BlockKind.Crate, ImgSize = 28, PatchSize = 4, InChans = 1,
            EmbedDim = 192, Depth = 6, NumHeads = 6, DecoderEmbedDim = 192, DecoderDepth = 6, DecoderNumHeads = 6,
        },
        // crate-fmnist with a 2-block decoder: about 1.5× the steps per CPU-minute, and better frozen features at the same
        // budget (docs/recipes.md, the pre-training screen); the recipe trains it with --mask-ratio 0.5.
        new MaeConfig
        {
            Name = "crate-fmnist-d2", Kind = BlockKind.Crate, ImgSize = 28, PatchSize = 4, InChans = 1,
            EmbedDim = 192, Depth = 6, NumHeads = 6, DecoderEmbedDim = 192, DecoderDepth = 2, DecoderNumHeads = 6,
        },
        new MaeConfig
        {
            Name = "vit-fmnist", Kind = BlockKind.Vit, ImgSize = 28, PatchSize = 4, InChans = 1,
            EmbedDim = 192, Depth = 6, NumHeads = 6, DecoderEmbedDim = 192, DecoderDepth = 6, DecoderNumHeads = 6,
        },
    ];

    /// <summary>Preset names in a stable order.</summary>
    public static IReadOnlyList<string> Names { get; } = All.Select(c => c.Name).ToArray();

    /// <summary>The preset called <paramref name="name"/>; an unknown name lists the known ones.</summary>
    public static MaeConfig Get(string name) =>
        All.FirstOrDefault(c => string.Equals(c.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"unknown model preset '{name}'; known presets: {string.Join(", ", Names)}; " +
                                       "or give a path to a JSON config");

    /// <summary>A preset name, a path to a JSON config file, or inline JSON (fields left out take the <see cref="MaeConfig"/> defaults).</summary>
    public static MaeConfig Resolve(string nameOrPath)
    {
        if (nameOrPath.EndsWith(".json", StringComparison.OrdinalIgnoreCase) || File.Exists(nameOrPath))
        {
            if (!File.Exists(nameOrPath) && !Directory.Exists(nameOrPath))
                throw new ArgumentException($"model config file '{nameOrPath}' does not exist");
            return MaeConfig.FromJson(InputFile.ReadAllText(nameOrPath, "model config file"), nameOrPath);
        }
        if (nameOrPath.TrimStart().StartsWith('{'))
            return MaeConfig.FromJson(nameOrPath, "inline model config");
        return Get(nameOrPath);
    }
}
