using CrateMae.Data;
using SkiaSharp;
using TorchSharp;
using static TorchSharp.torch;

namespace CrateMae.Reporting;

/// <summary>
/// Composes rows of image panels (e.g. original | masked | reconstruction | reconstruction + visible) into one picture, with
/// a small gap, nearest-neighbour upscaling so that 28-px images are visible, optional column headers and row labels
/// (drawn with DejaVu Sans when available). Panels are float images in [0, 1], gray or RGB, CHW.
/// </summary>
public sealed class ImageGrid
{
    private readonly List<(string? Label, FloatImage?[] Panels)> _rows = [];

    /// <summary>Creates an empty grid.</summary>
    /// <param name="columnHeaders">Optional header text per column.</param>
    public ImageGrid(IReadOnlyList<string>? columnHeaders = null)
    {
        ColumnHeaders = columnHeaders?.ToArray();
    }

    /// <summary>Header text per column, or null.</summary>
    public IReadOnlyList<string>? ColumnHeaders { get; }

    /// <summary>Integer nearest-neighbour enlargement of every panel; 0 (default) = automatic, so the largest panel side is at least 96 px.</summary>
    public int Upscale { get; init; }

    /// <summary>Gap between panels and around the border, in output pixels. Default 2.</summary>
    public int Gap { get; init; } = 2;

    /// <summary>Font size of headers and labels, in pixels. Default 13.</summary>
    public float FontSize { get; init; } = 13f;

    /// <summary>Background (gap) colour. Default white.</summary>
    public SKColor Background { get; init; } = SKColors.White;

    /// <summary>Text colour. Default black.</summary>
    public SKColor TextColor { get; init; } = SKColors.Black;

    /// <summary>Number of rows added.</summary>
    public int RowCount => _rows.Count;

    /// <summary>Number of columns (the larger of the header count and the longest row).</summary>
    public int ColumnCount => Math.Max(ColumnHeaders?.Count ?? 0, _rows.Count == 0 ? 0 : _rows.Max(r => r.Panels.Length));

    /// <summary>Adds a row of panels (a null panel leaves its cell empty).</summary>
    public ImageGrid AddRow(params FloatImage?[] panels) => AddRow(null, panels);

    /// <summary>Adds a row of panels with a label drawn to its left.</summary>
    /// <exception cref="ArgumentException">When a panel does not have 1 or 3 channels.</exception>
    public ImageGrid AddRow(string? label, params FloatImage?[] panels)
    {
        ArgumentNullException.ThrowIfNull(panels);
        for (int i = 0; i < panels.Length; i++)
        {
            if (panels[i] is { Channels: not (1 or 3) } p)
                throw new ArgumentException($"ImageGrid: panel {i} has {p.Channels} channels; expected 1 (gray) or 3 (RGB).", nameof(panels));
        }
        _rows.Add((label, panels.ToArray()));
        return this;
    }

    /// <summary>Adds a row of (C, H, W) or (H, W) tensors with values in [0, 1].</summary>
    public ImageGrid AddRow(params Tensor[] panels) => AddRow(null, panels);

    /// <summary>Adds a labelled row of (C, H, W) or (H, W) tensors with values in [0, 1].</summary>
    public ImageGrid AddRow(string? label, params Tensor[] panels)
    {
        ArgumentNullException.ThrowIfNull(panels);
        return AddRow(label, panels.Select(FloatImage.FromTensor).ToArray());
    }

    /// <summary>
    /// Builds a grid from batches, one batch per column (each [N, C, H, W] or [N, H, W], values in [0, 1]); row r shows sample r
    /// of every batch, for the first <paramref name="maxRows"/> samples.
    /// </summary>
    /// <exception cref="ArgumentException">When a batch is not 3-D/4-D or the batches hold different numbers of samples.</exception>
    public static ImageGrid FromBatches(IReadOnlyList<Tensor> columns, IReadOnlyList<string>? headers = null, int maxRows = 8, int upscale = 0)
    {
        ArgumentNullException.ThrowIfNull(columns);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxRows, 1);
        if (columns.Count == 0) throw new ArgumentException("ImageGrid.FromBatches: no columns given.", nameof(columns));
        var split = columns.Select((t, i) => SplitBatch(t, i)).ToArray();
        int n = split[0].Length;
        if (split.Any(s => s.Length != n))
            throw new ArgumentException(
                $"ImageGrid.FromBatches: the batches hold different numbers of samples ({string.Join(", ", split.Select(s => s.Length))}).", nameof(columns));
        var grid = new ImageGrid(headers) { Upscale = upscale };
        for (int r = 0; r < Math.Min(n, maxRows); r++) grid.AddRow(split.Select(s => (FloatImage?)s[r]).ToArray());
        return grid;
    }

    /// <summary>The upscale factor <see cref="Render"/> uses.</summary>
    public int EffectiveUpscale
    {
        get
        {
            if (Upscale > 0) return Upscale;
            int maxSide = Panels().Select(p => Math.Max(p.Height, p.Width)).DefaultIfEmpty(96).Max();
            return Math.Clamp((int)Math.Ceiling(96.0 / maxSide), 1, 16);
        }
    }

    /// <summary>Draws the grid into a new bitmap (the caller disposes it).</summary>
    /// <exception cref="InvalidOperationException">When the grid has no rows.</exception>
    public SKBitmap Render()
    {
        if (_rows.Count == 0) throw new InvalidOperationException("ImageGrid.Render: the grid has no rows.");
        int up = EffectiveUpscale;
        int gap = Math.Max(0, Gap);
        int cellW = Panels().Select(p => p.Width * up).DefaultIfEmpty(1).Max();
        int cellH = Panels().Select(p => p.Height * up).DefaultIfEmpty(1).Max();
        int cols = ColumnCount;

        using var font = new SKFont(TextFonts.Typeface, FontSize) { Edging = SKFontEdging.Antialias };
        using var textPaint = new SKPaint { Color = TextColor, IsAntialias = true };
        bool hasHeaders = ColumnHeaders is { Count: > 0 } && ColumnHeaders.Any(h => !string.IsNullOrEmpty(h));
        bool hasLabels = _rows.Any(r => !string.IsNullOrEmpty(r.Label));
        int colW = cellW;
        if (hasHeaders)
            colW = Math.Max(colW, (int)Math.Ceiling(ColumnHeaders!.Max(h => font.MeasureText(h ?? string.Empty))) + 4);
        int headerH = hasHeaders ? (int)Math.Ceiling(FontSize * 1.5) + gap : 0;
        int labelW = hasLabels ? (int)Math.Ceiling(_rows.Max(r => font.MeasureText(r.Label ?? string.Empty))) + (2 * gap) + 4 : 0;

        int width = gap + labelW + (cols * (colW + gap));
        int height = gap + headerH + (_rows.Count * (cellH + gap));
        var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque));
        using var canvas = new SKCanvas(bitmap);
        canvas.Clear(Background);

        if (hasHeaders)
        {
            float baseline = gap + (FontSize * 1.1f);
            for (int c = 0; c < ColumnHeaders!.Count && c < cols; c++)
            {
                if (string.IsNullOrEmpty(ColumnHeaders[c])) continue;
                float cx = gap + labelW + (c * (colW + gap)) + (colW / 2f);
                canvas.DrawText(ColumnHeaders[c], cx, baseline, SKTextAlign.Center, font, textPaint);
            }
        }
        for (int r = 0; r < _rows.Count; r++)
        {
            var (label, panels) = _rows[r];
            int y0 = gap + headerH + (r * (cellH + gap));
            if (!string.IsNullOrEmpty(label))
                canvas.DrawText(label, gap + labelW - gap - 2, y0 + (cellH / 2f) + (FontSize * 0.35f), SKTextAlign.Right, font, textPaint);
            for (int c = 0; c < panels.Length; c++)
            {
                if (panels[c] is not { } panel) continue;
                using var panelBitmap = ImageWriter.ToBitmap(ImageWriter.UpscaleNearest(panel, up));
                int x = gap + labelW + (c * (colW + gap)) + ((colW - panelBitmap.Width) / 2);
                int y = y0 + ((cellH - panelBitmap.Height) / 2);
                canvas.DrawBitmap(panelBitmap, x, y);
            }
        }
        canvas.Flush();
        return bitmap;
    }

    /// <summary>Renders and writes the grid as PNG (atomically).</summary>
    public void SavePng(string path)
    {
        using var bitmap = Render();
        ImageWriter.SavePng(path, bitmap);
    }

    private IEnumerable<FloatImage> Panels() => _rows.SelectMany(r => r.Panels).OfType<FloatImage>();

    private static FloatImage[] SplitBatch(Tensor batch, int column)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (batch.dim() is not (3 or 4))
            throw new ArgumentException(
                $"ImageGrid.FromBatches: column {column} has shape [{string.Join(",", batch.shape)}]; expected [N,C,H,W] or [N,H,W].");
        int n = (int)batch.shape[0];
        int c = batch.dim() == 4 ? (int)batch.shape[1] : 1;
        int h = (int)batch.shape[^2], w = (int)batch.shape[^1];
        float[] all;
        using (torch.NewDisposeScope())
        {
            all = batch.detach().to(ScalarType.Float32, torch.CPU).contiguous().data<float>().ToArray();
        }
        int per = c * h * w;
        var result = new FloatImage[n];
        for (int i = 0; i < n; i++) result[i] = new FloatImage(c, h, w, all.AsSpan(i * per, per).ToArray());
        return result;
    }
}
