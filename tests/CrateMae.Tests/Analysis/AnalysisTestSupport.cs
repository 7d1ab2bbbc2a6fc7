using CrateMae.Models;
using TorchSharp;

namespace CrateMae.Tests.Analysis;

/// <summary>Shared set-up for the analysis tests: one torch thread (2 shared cores), tiny models, temp folders.</summary>
internal static class AnalysisTestSupport
{
    static AnalysisTestSupport() => torch.set_num_threads(1);

    /// <summary>Forces the static constructor (single-threaded torch) to run.</summary>
    public static void Init() { }

    /// <summary>The tiny model of the brief: 16×16 grey images, 4×4 patches (N = 17), D = 16, 2 heads (d_h = 8), 2 layers.</summary>
    public static MaeConfig TinyConfig(BlockKind kind = BlockKind.Crate) => new()
    {
        Name = $"tiny-{kind}".ToLowerInvariant(),
        Kind = kind,
        ImgSize = 16, PatchSize = 4, InChans = 1,
        EmbedDim = 16, Depth = 2, NumHeads = 2,
        DecoderEmbedDim = 16, DecoderDepth = 1, DecoderNumHeads = 2,
    };

    public static MaskedAutoencoder TinyModel(BlockKind kind = BlockKind.Crate, long seed = 7)
    {
        using var g = new torch.Generator((ulong)seed);
        return new MaskedAutoencoder(TinyConfig(kind), g);
    }

    public static torch.Tensor RandomImages(long count, long seed, int chans = 1, int size = 16)
    {
        using var g = new torch.Generator((ulong)seed);
        return torch.randn(count, chans, size, size, generator: g);
    }

    /// <summary>
    /// A fresh output folder. Set CRATEMAE_ANALYSIS_OUT to keep the figures there for a visual check; otherwise a
    /// temporary folder that the caller deletes.
    /// </summary>
    public static (string Dir, bool Keep) OutputDir(string name)
    {
        var keepRoot = Environment.GetEnvironmentVariable("CRATEMAE_ANALYSIS_OUT");
        if (!string.IsNullOrEmpty(keepRoot))
        {
            var dir = Path.Combine(keepRoot, name);
            Directory.CreateDirectory(dir);
            return (dir, true);
        }
        var tmp = Path.Combine(Path.GetTempPath(), "cratemae-analysis-" + name + "-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(tmp);
        return (tmp, false);
    }
}
