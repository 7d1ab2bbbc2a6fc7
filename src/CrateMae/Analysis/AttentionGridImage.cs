using static TorchSharp.torch;

namespace CrateMae.Analysis;

/// <summary>
/// Attention saliency figure (spec §7.4): one row per image — the image, then one heat-map overlay per head, then
/// the head average; each map min–max normalised on its own, nearest-upsampled and blended over the image.
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
    /// <exception cref="ArgumentException">Shapes do not agree, or alpha is outside [0, 1].</exception>
    public static void Save(string path, Tensor images, Tensor maps, int? scale = null, double alpha = 0.5,
        IReadOnlyList<double>? mean = null, IReadOnlyList<double>? std = null)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(maps);
        if (images.dim() != 4) throw new ArgumentException($"images must be [B, C, H, W], got [{string.Join(", ", images.shape)}]", nameof(images));
        if (maps.dim() != 4 || maps.shape[0] != images.shape[0])
            throw new ArgumentException($"maps must be [B, K, gh, gw] with B = {images.shape[0]}, got [{string.Join(", ", maps.shape)}]", nameof(maps));
        if (!(alpha >= 0 && alpha <= 1)) throw new ArgumentException($"alpha must be in [0, 1], got {alpha}", nameof(alpha));
        int b = (int)images.shape[0], k = (int)maps.shape[1], h = (int)images.shape[2], w = (int)images.shape[3];
        int s = scale ?? Math.Max(1, (int)Math.Ceiling(128.0 / Math.Max(h, w)));
        if (s <= 0) throw new ArgumentException($"scale must be positive, got {s}", nameof(scale));

        var captions = new List<string> { "image" };
        captions.AddRange(Enumerable.Range(1, k).Select(i => $"head {i}"));
        captions.Add("head mean");
        using var canvas = new PanelCanvas(b, k + 2, w * s, h * s, captions);
        using var scope = NewDisposeScope();
        var average = AttentionSaliency.HeadAverage(maps);
        for (int i = 0; i < b; i++)
        {
            var pixels = PanelCanvas.ImagePixels(images[i], mean, std);
            canvas.Draw(i, 0, pixels);
            for (int j = 0; j < k; j++) canvas.Draw(i, j + 1, PanelCanvas.Overlay(pixels, PanelCanvas.Normalized(maps[i, j]), alpha));
            canvas.Draw(i, k + 1, PanelCanvas.Overlay(pixels, PanelCanvas.Normalized(average[i]), alpha));
        }
        canvas.Save(path);
    }
}
