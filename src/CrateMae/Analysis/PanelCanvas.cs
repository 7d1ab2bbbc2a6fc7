using SkiaSharp;
using static TorchSharp.torch;

namespace CrateMae.Analysis;

/// <summary>
/// Minimal private raster helper for the analysis figures (to be replaced by the shared Imaging helpers): a grid of
/// equally sized panels with a caption row on top, tensor → pixel conversion, a jet colour map and atomic PNG writing.
/// Layout: width = cols·panelW + (cols + 1)·<see cref="Gap"/>; height = <see cref="Header"/> + rows·panelH + (rows + 1)·<see cref="Gap"/>.
/// </summary>
internal sealed class PanelCanvas : IDisposable
{
    /// <summary>Gap between panels and around the grid, in pixels.</summary>
    public const int Gap = 4;

    /// <summary>Height of the caption row, in pixels.</summary>
    public const int Header = 20;

    /// <summary>DejaVu Sans when available (shared for the process, never disposed).</summary>
    private static readonly Lazy<SKTypeface> Typeface = new(LoadTypeface);

    private readonly SKBitmap _bitmap;
    private readonly SKCanvas _canvas;
    private readonly int _panelW, _panelH;

    public PanelCanvas(int rows, int cols, int panelWidth, int panelHeight, IReadOnlyList<string> captions)
    {
        if (rows <= 0 || cols <= 0 || panelWidth <= 0 || panelHeight <= 0)
            throw new ArgumentException($"empty figure: {rows}×{cols} panels of {panelWidth}×{panelHeight}");
        _panelW = panelWidth;
        _panelH = panelHeight;
        int width = cols * panelWidth + (cols + 1) * Gap;
        int height = Header + rows * panelHeight + (rows + 1) * Gap;
        _bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque));
        _canvas = new SKCanvas(_bitmap);
        _canvas.Clear(SKColors.White);
        using var font = new SKFont(Typeface.Value, 12);
        using var paint = new SKPaint { Color = SKColors.Black, IsAntialias = true };
        for (int c = 0; c < Math.Min(cols, captions.Count); c++)
        {
            float x = Gap + c * (panelWidth + Gap) + panelWidth / 2f;
            _canvas.DrawText(Fit(captions[c], font, panelWidth), x, Header - 5, SKTextAlign.Center, font, paint);
        }
        _canvas.Flush();   // panels are then written straight into the pixel memory
    }

    /// <summary>Draws an RGB image given as [H, W, 3] floats in [0, 1] into panel (row, col), nearest-scaled to the panel size.</summary>
    public void Draw(int row, int col, float[,,] rgb)
    {
        int h = rgb.GetLength(0), w = rgb.GetLength(1);
        int x0 = Gap + col * (_panelW + Gap), y0 = Header + Gap + row * (_panelH + Gap);
        var line = new byte[_panelW * 4];
        var pixels = _bitmap.GetPixels();
        for (int y = 0; y < _panelH; y++)
        {
            int sy = (int)((long)y * h / _panelH);
            for (int x = 0; x < _panelW; x++)
            {
                int sx = (int)((long)x * w / _panelW);
                line[4 * x] = ToByte(rgb[sy, sx, 0]);
                line[4 * x + 1] = ToByte(rgb[sy, sx, 1]);
                line[4 * x + 2] = ToByte(rgb[sy, sx, 2]);
                line[4 * x + 3] = 255;
            }
            System.Runtime.InteropServices.Marshal.Copy(line, 0, pixels + (y0 + y) * _bitmap.RowBytes + x0 * 4, line.Length);
        }
        _bitmap.NotifyPixelsChanged();
    }

    /// <summary>Encodes the figure as PNG and writes it atomically (temporary file in the same folder, then rename).</summary>
    public void Save(string path)
    {
        _canvas.Flush();
        using var data = _bitmap.Encode(SKEncodedImageFormat.Png, 100)
            ?? throw new InvalidOperationException("PNG encoding failed");
        AtomicFile.WriteAllBytes(path, data.AsSpan());
    }

    public void Dispose()
    {
        _canvas.Dispose();
        _bitmap.Dispose();
    }

    /// <summary>
    /// One image [C, H, W] → displayable [H, W, 3] in [0, 1]. With <paramref name="mean"/>/<paramref name="std"/>
    /// (one value, or one per channel) the normalisation is undone (x·std + mean, clamped); otherwise the image is
    /// min–max stretched over all channels. 3 or more channels: the first three as RGB; 1–2 channels: channel 0 as grey.
    /// </summary>
    public static float[,,] ImagePixels(Tensor image, IReadOnlyList<double>? mean, IReadOnlyList<double>? std)
    {
        if (image.dim() != 3) throw new ArgumentException($"image must be [C, H, W], got [{string.Join(", ", image.shape)}]");
        int c = (int)image.shape[0], h = (int)image.shape[1], w = (int)image.shape[2];
        float[] v;
        using (var cpu = image.detach().to(ScalarType.Float32).cpu().contiguous()) v = cpu.data<float>().ToArray();
        if ((mean is null) != (std is null)) throw new ArgumentException("give both mean and std, or neither");
        if (mean is not null && std is not null)
        {
            if ((mean.Count != 1 && mean.Count != c) || (std.Count != 1 && std.Count != c))
                throw new ArgumentException($"mean/std must have 1 or {c} values");
            for (int ch = 0; ch < c; ch++)
            for (int i = 0; i < h * w; i++)
            {
                int k = ch * h * w + i;
                v[k] = (float)Math.Clamp(v[k] * std[std.Count == 1 ? 0 : ch] + mean[mean.Count == 1 ? 0 : ch], 0, 1);
            }
        }
        else
        {
            float lo = v.Min(), hi = v.Max(), range = hi > lo ? hi - lo : 1;
            for (int k = 0; k < v.Length; k++) v[k] = (v[k] - lo) / range;
        }
        var rgb = new float[h, w, 3];
        for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
        for (int ch = 0; ch < 3; ch++)
            rgb[y, x, ch] = v[(c >= 3 ? ch : 0) * h * w + y * w + x];
        return rgb;
    }

    /// <summary>A [gh, gw] map → [gh, gw] floats min–max normalised to [0, 1] (constant → 0).</summary>
    public static float[,] Normalized(Tensor map)
    {
        if (map.dim() != 2) throw new ArgumentException($"map must be [gh, gw], got [{string.Join(", ", map.shape)}]");
        int h = (int)map.shape[0], w = (int)map.shape[1];
        float[] v;
        using (var cpu = map.detach().to(ScalarType.Float32).cpu().contiguous()) v = cpu.data<float>().ToArray();
        float lo = v.Min(), hi = v.Max(), range = hi > lo ? hi - lo : 1;
        var result = new float[h, w];
        for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            result[y, x] = (v[y * w + x] - lo) / range;
        return result;
    }

    /// <summary>Blends a heat map (values in [0, 1], any grid, nearest-upsampled) over an image with opacity <paramref name="alpha"/>.</summary>
    public static float[,,] Overlay(float[,,] image, float[,] heat, double alpha)
    {
        int h = image.GetLength(0), w = image.GetLength(1), gh = heat.GetLength(0), gw = heat.GetLength(1);
        var result = new float[h, w, 3];
        for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
        {
            var (r, g, b) = Jet(heat[(int)((long)y * gh / h), (int)((long)x * gw / w)]);
            result[y, x, 0] = (float)((1 - alpha) * image[y, x, 0] + alpha * r);
            result[y, x, 1] = (float)((1 - alpha) * image[y, x, 1] + alpha * g);
            result[y, x, 2] = (float)((1 - alpha) * image[y, x, 2] + alpha * b);
        }
        return result;
    }

    /// <summary>The classic "jet" colour map: 0 → dark blue, 0.5 → green-yellow, 1 → dark red.</summary>
    public static (double R, double G, double B) Jet(double t)
    {
        t = double.IsFinite(t) ? Math.Clamp(t, 0, 1) : 0;
        static double Ramp(double v) => Math.Clamp(1.5 - Math.Abs(v), 0, 1);
        return (Ramp(4 * t - 3), Ramp(4 * t - 2), Ramp(4 * t - 1));
    }

    private static byte ToByte(float v) => (byte)Math.Clamp((int)MathF.Round(v * 255f), 0, 255);

    private static string Fit(string text, SKFont font, int width)
    {
        if (font.MeasureText(text) <= width) return text;
        while (text.Length > 1 && font.MeasureText(text + "…") > width) text = text[..^1];
        return text + "…";
    }

    private static SKTypeface LoadTypeface()
    {
        const string dejavu = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
        var face = SKTypeface.FromFamilyName("DejaVu Sans");
        if (face is not null && face.FamilyName.Contains("DejaVu", StringComparison.OrdinalIgnoreCase)) return face;
        face?.Dispose();
        return (File.Exists(dejavu) ? SKTypeface.FromFile(dejavu) : null) ?? SKTypeface.Default;
    }
}
