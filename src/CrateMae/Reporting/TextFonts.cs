using SkiaSharp;

namespace CrateMae.Reporting;

/// <summary>
/// The one font source of the figures: DejaVu Sans from its Debian path (fonts-dejavu-core), so text renders even
/// where SkiaSharp finds no system fonts. <see cref="Typeface"/> serves the SkiaSharp drawings (image grids),
/// <see cref="PlotFamily"/> the ScottPlot plots; each falls back to its library's default when the font is absent.
/// </summary>
internal static class TextFonts
{
    private const string DejaVuSansPath = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

    private const string DejaVuSansBoldPath = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf";
    private const string DejaVuSans = "DejaVu Sans";

    private static readonly Lazy<SKTypeface> Sans = new(Resolve, LazyThreadSafetyMode.ExecutionAndPublication);
    private static readonly Lazy<string> PlotFont = new(RegisterWithScottPlot, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The typeface used for headers and labels (never null; may lack glyphs on a machine without any fonts).</summary>
    public static SKTypeface Typeface => Sans.Value;

    /// <summary>
    /// The font family ScottPlot plots use: DejaVu Sans (registered with ScottPlot once, regular and bold), or
    /// ScottPlot's default font when the file is absent or cannot be read.
    /// </summary>
    public static string PlotFamily => PlotFont.Value;

    private static SKTypeface Resolve()
    {
        if (File.Exists(DejaVuSansPath))
        {
            var fromFile = SKTypeface.FromFile(DejaVuSansPath);
            if (fromFile is not null && fromFile.GlyphCount > 0) return fromFile;
        }
        foreach (var family in new[] { DejaVuSans, "Liberation Sans", "Arial", "Helvetica", "sans-serif" })
        {
            var tf = SKFontManager.Default.MatchFamily(family);
            if (tf is not null && tf.GlyphCount > 0) return tf;
        }
        return SKTypeface.Default;
    }

    private static string RegisterWithScottPlot()
    {
        if (!File.Exists(DejaVuSansPath)) return ScottPlot.Fonts.Default;
        try
        {
            ScottPlot.Fonts.AddFontFile(DejaVuSans, DejaVuSansPath, bold: false, italic: false);
            if (File.Exists(DejaVuSansBoldPath)) ScottPlot.Fonts.AddFontFile(DejaVuSans, DejaVuSansBoldPath, bold: true, italic: false);
            return DejaVuSans;
        }
        catch (Exception e) when (e is IOException or ArgumentException or InvalidOperationException)
        {
            return ScottPlot.Fonts.Default;
        }
    }
}
