using System.Text.Json.Serialization;
using static TorchSharp.torch;

namespace CrateMae.Analysis;

/// <summary>Foreground concentration of cls attention of one encoder block over a set of images.</summary>
/// <param name="Images">Images whose ratio is defined (some foreground and some background patches).</param>
/// <param name="Skipped">Images left out (all patches foreground, or none).</param>
/// <param name="Mean">Mean over images of (share of head-averaged cls attention on foreground patches) / (share of foreground patches); NaN when no image was usable.</param>
/// <param name="Std">Unbiased std over images of that ratio.</param>
/// <param name="ForegroundShare">Mean share of foreground patches over the used images.</param>
/// <param name="PerHeadMean">The same mean ratio for every head on its own.</param>
public sealed record ForegroundSummary(
    [property: JsonPropertyName("images")] int Images,
    [property: JsonPropertyName("skipped")] int Skipped,
    [property: JsonPropertyName("mean")] double Mean,
    [property: JsonPropertyName("std")] double Std,
    [property: JsonPropertyName("foreground_share")] double ForegroundShare,
    [property: JsonPropertyName("per_head_mean")] IReadOnlyList<double> PerHeadMean);

/// <summary>
/// The cls attention of every head of one encoder block on the unmasked path (spec §7.4), and its foreground ratio:
/// share of cls attention on foreground patches / share of foreground patches.
/// </summary>
public static class ClsAttention
{
    /// <summary>Per-head cls saliency of encoder block <paramref name="blockNumber"/> (1 … depth): [B, K, gh, gw].</summary>
    /// <exception cref="ArgumentException">The block number is outside 1 … depth.</exception>
    public static Tensor Maps(LayerProbe probe, Tensor images, int blockNumber)
    {
        ArgumentNullException.ThrowIfNull(probe);
        ArgumentNullException.ThrowIfNull(images);
        var c = probe.Model.Config;
        using var scope = NewDisposeScope();
        var attention = probe.AttentionMaps(images, blockNumber);
        return AttentionSaliency.ClsMaps(attention, (int)images.shape[2] / c.PatchSize, (int)images.shape[3] / c.PatchSize)
            .cpu().MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Foreground ratio of encoder block <paramref name="blockNumber"/> (1 … depth) over every image of <paramref name="batches"/>: per image,
    /// foreground = patches with a pixel that differs from the image's border colour (<see cref="AttentionSaliency.ForegroundMask"/>);
    /// images with no or only foreground patches are skipped and counted.
    /// </summary>
    /// <exception cref="ArgumentException">The block number is outside 1 … depth, or there are no images.</exception>
    public static ForegroundSummary ForegroundRatio(LayerProbe probe, IEnumerable<Tensor> batches, int blockNumber)
    {
        ArgumentNullException.ThrowIfNull(probe);
        ArgumentNullException.ThrowIfNull(batches);
        int heads = probe.HeadsOf(blockNumber), patch = probe.Model.Config.PatchSize;
        var average = new List<double>();
        var share = new List<double>();
        var perHead = Enumerable.Range(0, heads).Select(_ => new List<double>()).ToArray();
        int seen = 0;
        foreach (var images in batches)
        {
            using var scope = NewDisposeScope();
            var maps = Maps(probe, images, blockNumber);                                         // [B, K, gh, gw]
            var fg = AttentionSaliency.ForegroundMask(images.cpu(), patch);                // [B, gh, gw]
            var mean = AttentionSaliency.ForegroundRatio(AttentionSaliency.HeadAverage(maps), fg);
            var shares = fg.to(ScalarType.Float64).flatten(1).mean([1]).data<double>().ToArray();
            for (int i = 0; i < mean.PerImage.Count; i++)
            {
                if (double.IsNaN(mean.PerImage[i])) continue;
                average.Add(mean.PerImage[i]);
                share.Add(shares[i]);
            }
            for (int k = 0; k < heads; k++)
                perHead[k].AddRange(AttentionSaliency.ForegroundRatio(maps[.., k], fg).PerImage.Where(double.IsFinite));
            seen += (int)images.shape[0];
        }
        if (seen == 0) throw new ArgumentException("no images to measure the foreground ratio on");
        if (average.Count == 0) return new ForegroundSummary(0, seen, double.NaN, double.NaN, double.NaN, perHead.Select(_ => double.NaN).ToArray());
        var stats = SampleStatistics.Of(average);
        return new ForegroundSummary(average.Count, seen - average.Count, stats.Mean, stats.Std, share.Average(),
            perHead.Select(h => h.Count > 0 ? h.Average() : double.NaN).ToArray());
    }
}
