using SkiaSharp;

namespace CrateMae.Reporting;

/// <summary>Finds a usable typeface for labels: DejaVu Sans from its Debian path, then by family name, then Skia's default.</summary>
internal static class TextFonts
{
    public const string DejaVuSansPath = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

    private static readonly Lazy<SKTypeface> Sans = new(Resolve, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The typeface used for headers and labels (never null; may lack glyphs on a machine without any fonts).</summary>
    public static SKTypeface Typeface => Sans.Value;

    private static SKTypeface Resolve()
    {
        if (File.Exists(DejaVuSansPath))
        {
            var fromFile = SKTypeface.FromFile(DejaVuSansPath);
            if (fromFile is not null && fromFile.GlyphCount > 0) return fromFile;
        }
        foreach (var family in new[] { "DejaVu Sans", "Liberation Sans", "Arial", "Helvetica", "sans-serif" })
        {
            var tf = SKFontManager.Default.MatchFamily(family);
            if (tf is not null && tf.GlyphCount > 0) return tf;
        }
        return SKTypeface.Default;
    }
}
