using static TorchSharp.torch;

namespace CrateMae.Analysis;

/// <summary>
/// PCA feature figure (spec §7.5): one row per image — the image, the RGB composite of three components, then
/// (optionally) every component as a grey map; maps nearest-upsampled to the image size.
/// Size: with panels of (H·s)×(W·s) and c columns (2 + k with components), width = c·W·s + (c + 1)·4,
/// height = 20 + B·H·s + (B + 1)·4.
/// </summary>
public static class PcaPanelImage
{
    /// <summary>Renders and writes the PNG atomically.</summary>
    /// <param name="path">Output .png path (folders are created).</param>
    /// <param name="images">Images [B, C, H, W].</param>
    /// <param name="rgb">Composite [B, 3, gh, gw] in [0, 1] (from <see cref="PatchPca.Rgb"/>).</param>
    /// <param name="components">Optional normalised components [B, k, gh, gw] in [0, 1], drawn as grey panels.</param>
    /// <param name="scale">Integer pixel scale s; default max(1, ⌈128 / max(H, W)⌉).</param>
    /// <param name="mean">Optional per-channel normalisation mean to undo for display (with <paramref name="std"/>).</param>
    /// <param name="std">Optional per-channel normalisation std.</param>
    /// <exception cref="ArgumentException">Shapes do not agree.</exception>
    public static void Save(string path, Tensor images, Tensor rgb, Tensor? components = null, int? scale = null,
        IReadOnlyList<double>? mean = null, IReadOnlyList<double>? std = null)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(rgb);
        if (images.dim() != 4) throw new ArgumentException($"images must be [B, C, H, W], got [{string.Join(", ", images.shape)}]", nameof(images));
        if (rgb.dim() != 4 || rgb.shape[0] != images.shape[0] || rgb.shape[1] != 3)
            throw new ArgumentException($"rgb must be [B, 3, gh, gw] with B = {images.shape[0]}, got [{string.Join(", ", rgb.shape)}]", nameof(rgb));
        if (components is not null && (components.dim() != 4 || components.shape[0] != images.shape[0]))
            throw new ArgumentException($"components must be [B, k, gh, gw] with B = {images.shape[0]}, got [{string.Join(", ", components.shape)}]", nameof(components));
        int b = (int)images.shape[0], h = (int)images.shape[2], w = (int)images.shape[3];
        int k = components is null ? 0 : (int)components.shape[1];
        int s = scale ?? Math.Max(1, (int)Math.Ceiling(128.0 / Math.Max(h, w)));
        if (s <= 0) throw new ArgumentException($"scale must be positive, got {s}", nameof(scale));

        var captions = new List<string> { "image", "PCA RGB" };
        captions.AddRange(Enumerable.Range(1, k).Select(i => $"PC {i}"));
        using var canvas = new PanelCanvas(b, 2 + k, w * s, h * s, captions);
        using var scope = NewDisposeScope();
        for (int i = 0; i < b; i++)
        {
            canvas.Draw(i, 0, PanelCanvas.ImagePixels(images[i], mean, std));
            canvas.Draw(i, 1, Grid(rgb[i]));
            for (int j = 0; j < k; j++) canvas.Draw(i, 2 + j, Grid(components![i, j].unsqueeze(0)));
        }
        canvas.Save(path);
    }

    /// <summary>[3, gh, gw] or [1, gh, gw] values in [0, 1] → [gh, gw, 3] (grey when one channel).</summary>
    private static float[,,] Grid(Tensor map)
    {
        int c = (int)map.shape[0], gh = (int)map.shape[1], gw = (int)map.shape[2];
        float[] v;
        using (var cpu = map.detach().to(ScalarType.Float32).cpu().contiguous()) v = cpu.data<float>().ToArray();
        var result = new float[gh, gw, 3];
        for (int y = 0; y < gh; y++)
        for (int x = 0; x < gw; x++)
        for (int ch = 0; ch < 3; ch++)
            result[y, x, ch] = Math.Clamp(v[(c == 3 ? ch : 0) * gh * gw + y * gw + x], 0f, 1f);
        return result;
    }
}
