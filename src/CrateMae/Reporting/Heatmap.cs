using System.Collections.Concurrent;
using CrateMae.Data;
using static TorchSharp.torch;

namespace CrateMae.Reporting;

/// <summary>
/// Colours scalar maps (e.g. attention per patch) and blends them over images. Maps are row-major float arrays; values are taken as
/// [0, 1] (clamped) unless <c>normalize</c> rescales min..max to 0..1. A map smaller than the image is enlarged with nearest
/// neighbour (crisp patch blocks) or bilinear (<c>smooth</c>) sampling.
/// </summary>
public static class Heatmap
{
    private static readonly ConcurrentDictionary<Colormap, float[]> Luts = new();

    /// <summary>The RGB colour (each in [0, 1]) of <paramref name="value"/> ∈ [0, 1] under <paramref name="colormap"/>.</summary>
    public static (float R, float G, float B) GetColor(Colormap colormap, float value)
    {
        var lut = Lut(colormap);
        int i = float.IsNaN(value) ? 0 : Math.Clamp((int)MathF.Round(value * 255f), 0, 255);
        return (lut[3 * i], lut[(3 * i) + 1], lut[(3 * i) + 2]);
    }

    /// <summary>Colours a map of <paramref name="height"/> × <paramref name="width"/> values into a 3-channel image of the same size.</summary>
    /// <exception cref="ArgumentException">When the map length is not height × width.</exception>
    public static FloatImage Colorize(float[] map, int height, int width, Colormap colormap = Colormap.Viridis, bool normalize = false)
    {
        var values = Prepare(map, height, width, normalize);
        var lut = Lut(colormap);
        int plane = height * width;
        var result = new FloatImage(3, height, width);
        for (int i = 0; i < plane; i++)
        {
            int k = 3 * Math.Clamp((int)MathF.Round(values[i] * 255f), 0, 255);
            result.Data[i] = lut[k];
            result.Data[plane + i] = lut[k + 1];
            result.Data[(2 * plane) + i] = lut[k + 2];
        }
        return result;
    }

    /// <summary>
    /// Blends the coloured <paramref name="map"/> over <paramref name="image"/> (gray or RGB, [0, 1]):
    /// <c>(1 − alpha)·image + alpha·colour</c>. The result is RGB with the image's size.
    /// </summary>
    /// <param name="image">The background image (CHW, 1 or 3 channels).</param>
    /// <param name="map">Row-major map values.</param>
    /// <param name="mapHeight">Map rows (e.g. patches per column).</param>
    /// <param name="mapWidth">Map columns.</param>
    /// <param name="colormap">Colour map.</param>
    /// <param name="alpha">Weight of the colour, in [0, 1].</param>
    /// <param name="normalize">Rescale the map's min..max to 0..1 first (otherwise values are clamped to [0, 1]).</param>
    /// <param name="smooth">Bilinear instead of nearest-neighbour enlargement of the map.</param>
    /// <exception cref="ArgumentException">When the sizes do not match or alpha is outside [0, 1].</exception>
    public static FloatImage Overlay(FloatImage image, float[] map, int mapHeight, int mapWidth, Colormap colormap = Colormap.Viridis,
                                     float alpha = 0.5f, bool normalize = false, bool smooth = false)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (!(alpha >= 0 && alpha <= 1))
            throw new ArgumentException($"Heatmap.Overlay: alpha must be in [0, 1], got {alpha}.", nameof(alpha));
        if (image.Channels is not (1 or 3))
            throw new ArgumentException($"Heatmap.Overlay: image must have 1 or 3 channels, got {image.Channels}.", nameof(image));
        var values = Prepare(map, mapHeight, mapWidth, normalize);
        int h = image.Height, w = image.Width, plane = h * w;
        float[] full;
        if (mapHeight == h && mapWidth == w)
        {
            full = values;
        }
        else if (smooth)
        {
            var src = new FloatImage(1, mapHeight, mapWidth, values);
            full = Resampler.Resample(src, 0, 0, mapHeight, mapWidth, h, w, Interpolation.Bilinear, antialias: true).Data;
        }
        else
        {
            full = new float[plane];
            for (int y = 0; y < h; y++)
            {
                int my = Math.Min(mapHeight - 1, (int)((y + 0.5) * mapHeight / h));
                for (int x = 0; x < w; x++)
                    full[(y * w) + x] = values[(my * mapWidth) + Math.Min(mapWidth - 1, (int)((x + 0.5) * mapWidth / w))];
            }
        }
        var lut = Lut(colormap);
        var rgb = ConvertChannels.Convert(image, 3);
        var result = new FloatImage(3, h, w);
        for (int i = 0; i < plane; i++)
        {
            int k = 3 * Math.Clamp((int)MathF.Round(full[i] * 255f), 0, 255);
            for (int c = 0; c < 3; c++)
            {
                float bg = Math.Clamp(rgb.Data[(c * plane) + i], 0f, 1f);
                result.Data[(c * plane) + i] = ((1 - alpha) * bg) + (alpha * lut[k + c]);
            }
        }
        return result;
    }

    /// <summary>Tensor overload: <paramref name="image"/> (C, H, W) or (H, W) in [0, 1], <paramref name="map"/> (h, w).</summary>
    /// <exception cref="ArgumentException">When the map is not 2-D.</exception>
    public static FloatImage Overlay(Tensor image, Tensor map, Colormap colormap = Colormap.Viridis, float alpha = 0.5f,
                                     bool normalize = false, bool smooth = false)
    {
        ArgumentNullException.ThrowIfNull(map);
        if (map.dim() != 2)
            throw new ArgumentException($"Heatmap.Overlay: map must be 2-D (h, w), got shape [{string.Join(",", map.shape)}].", nameof(map));
        var m = FloatImage.FromTensor(map);
        return Overlay(FloatImage.FromTensor(image), m.Data, m.Height, m.Width, colormap, alpha, normalize, smooth);
    }

    private static float[] Prepare(float[] map, int height, int width, bool normalize)
    {
        ArgumentNullException.ThrowIfNull(map);
        if (height <= 0 || width <= 0 || map.LongLength != (long)height * width)
            throw new ArgumentException($"Heatmap: map has {map.LongLength} values, expected {height}x{width} = {(long)height * width}.", nameof(map));
        var v = new float[map.Length];
        float min = float.PositiveInfinity, max = float.NegativeInfinity;
        foreach (var x in map)
        {
            if (!float.IsFinite(x)) continue;
            min = Math.Min(min, x);
            max = Math.Max(max, x);
        }
        float scale = normalize && max > min ? 1f / (max - min) : 1f;
        float offset = normalize && max > min ? min : 0f;
        for (int i = 0; i < map.Length; i++)
        {
            float x = map[i];
            if (!float.IsFinite(x)) x = 0;
            else if (normalize) x = max > min ? (x - offset) * scale : 0f;
            v[i] = Math.Clamp(x, 0f, 1f);
        }
        return v;
    }

    private static float[] Lut(Colormap colormap) => Luts.GetOrAdd(colormap, static cm =>
    {
        var lut = new float[256 * 3];
        if (cm == Colormap.Gray)
        {
            for (int i = 0; i < 256; i++) lut[3 * i] = lut[(3 * i) + 1] = lut[(3 * i) + 2] = i / 255f;
            return lut;
        }
        ScottPlot.IColormap source = cm switch
        {
            Colormap.Viridis => new ScottPlot.Colormaps.Viridis(),
            Colormap.Inferno => new ScottPlot.Colormaps.Inferno(),
            Colormap.Magma => new ScottPlot.Colormaps.Magma(),
            Colormap.Plasma => new ScottPlot.Colormaps.Plasma(),
            Colormap.Turbo => new ScottPlot.Colormaps.Turbo(),
            Colormap.Jet => new ScottPlot.Colormaps.Jet(),
            _ => throw new ArgumentOutOfRangeException(nameof(colormap), cm, "Unknown colormap."),
        };
        for (int i = 0; i < 256; i++)
        {
            var c = source.GetColor(i / 255.0);
            lut[3 * i] = c.R / 255f;
            lut[(3 * i) + 1] = c.G / 255f;
            lut[(3 * i) + 2] = c.B / 255f;
        }
        return lut;
    });
}
