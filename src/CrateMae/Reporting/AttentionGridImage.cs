using CrateMae.Analysis;

using static TorchSharp.torch;

namespace CrateMae.Reporting;

/// <summary>
/// Attention saliency figure (spec §7.4): one row per image — the image, then one heat-map overlay per head, then
/// the head average; each map min–max normalised on its own, nearest-upsampled and blended over the image
/// (jet colour map; drawn with the shared <see cref="ImageGrid"/> and <see cref="Heatmap"/>).
/// Size: with panels of (H·s)×(W·s) and K heads, width = (K + 2)·W·s + (K + 3)·4, height = 20 + B·H·s + (B + 1)·4.
/// </summary>
public static class AttentionGridImage
{
    /// <summary>Renders and writes the PNG atomically.</summary>
    /// <param name="path">Output .png path (folders are created).</param>
    /// <param name="images">Images [B, C, H, W] as fed to the model.</param>
    /// <param name="maps">Per-head saliency [B, K, gh, gw] (from <see cref="AttentionSaliency.ClsMaps"/>).</param>
    /// <param name="scale">Integer pixel scale s of every panel; default max(1, ⌈128 / max(H, W)⌉).</param>
    /// <param name="alpha">Opacity of the heat map over the image (0 … 1).</param>
    /// <param name="mean">Optional per-channel normalisation mean to undo for display (with <paramref name="std"/>); otherwise min–max stretch.</param>
    /// <param name="std">Optional per-channel normalisation std.</param>
    /// <param name="rowLabels">Optional label per image, drawn left of its row (widens the picture).</param>
    /// <exception cref="ArgumentException">Shapes do not agree, or alpha is outside [0, 1].</exception>
    public static void Save(string path, Tensor images, Tensor maps, int? scale = null, double alpha = 0.5,
        IReadOnlyList<double>? mean = null, IReadOnlyList<double>? std = null, IReadOnlyList<string>? rowLabels = null)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(maps);
        if (images.dim() != 4) throw new ArgumentException($"images must be [B, C, H, W], got [{string.Join(", ", images.shape)}]", nameof(images));
        if (maps.dim() != 4 || maps.shape[0] != images.shape[0])
            throw new ArgumentException($"maps must be [B, K, gh, gw] with B = {images.shape[0]}, got [{string.Join(", ", maps.shape)}]", nameof(maps));
        if (!(alpha >= 0 && alpha <= 1)) throw new ArgumentException($"alpha must be in [0, 1], got {alpha}", nameof(alpha));
        int b = (int)images.shape[0], k = (int)maps.shape[1], gh = (int)maps.shape[2], gw = (int)maps.shape[3];
        int s = scale ?? DisplayImages.DefaultScale((int)images.shape[2], (int)images.shape[3]);

        var captions = new List<string> { "image" };
        captions.AddRange(Enumerable.Range(1, k).Select(i => $"head {i}"));
        captions.Add("head mean");
        var grid = DisplayImages.Grid(captions, s);
        using var scope = NewDisposeScope();
        var pixels = DisplayImages.Pixels(images, mean, std);
        var withAverage = cat([maps.detach().to(ScalarType.Float32).cpu(), AttentionSaliency.HeadAverage(maps).unsqueeze(1).cpu()], 1);
        for (int i = 0; i < b; i++)
        {
            var row = new Data.FloatImage?[k + 2];
            row[0] = pixels[i];
            for (int j = 0; j <= k; j++)
            {
                var map = withAverage[i, j].contiguous().data<float>().ToArray();
                row[j + 1] = Heatmap.Overlay(pixels[i], map, gh, gw, Colormap.Jet, (float)alpha, normalize: true);
            }
            grid.AddRow(rowLabels is null || i >= rowLabels.Count ? null : rowLabels[i], row);
        }
        grid.SavePng(path);
    }
}
