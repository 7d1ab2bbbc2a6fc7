using CrateMae.Analysis;
using CrateMae.Data;
using static TorchSharp.torch;

namespace CrateMae.Reporting;

/// <summary>
/// PCA feature figure (spec §7.5): one row per image — the image, the RGB composite of three components, then
/// (optionally) every component as a grey map; maps nearest-upsampled to the image size (drawn with the shared
/// <see cref="ImageGrid"/>). Size: with panels of (H·s)×(W·s) and c columns (2 + k with components),
/// width = c·W·s + (c + 1)·4, height = 20 + B·H·s + (B + 1)·4.
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
    /// <param name="rgbCaption">Caption of the composite column (e.g. which components it shows).</param>
    /// <exception cref="ArgumentException">Shapes do not agree.</exception>
    public static void Save(string path, Tensor images, Tensor rgb, Tensor? components = null, int? scale = null,
        IReadOnlyList<double>? mean = null, IReadOnlyList<double>? std = null, string rgbCaption = "PCA RGB")
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
        int s = scale ?? DisplayImages.DefaultScale(h, w);

        var captions = new List<string> { "image", rgbCaption };
        captions.AddRange(Enumerable.Range(1, k).Select(i => $"PC {i}"));
        var grid = DisplayImages.Grid(captions, s);
        using var scope = NewDisposeScope();
        var pixels = DisplayImages.Pixels(images, mean, std);
        for (int i = 0; i < b; i++)
        {
            var row = new FloatImage?[2 + k];
            row[0] = pixels[i];
            row[1] = DisplayImages.Enlarge(rgb[i].clamp(0, 1), h, w);
            for (int j = 0; j < k; j++) row[2 + j] = DisplayImages.Enlarge(components![i, j].clamp(0, 1), h, w);
            grid.AddRow(row);
        }
        grid.SavePng(path);
    }
}
