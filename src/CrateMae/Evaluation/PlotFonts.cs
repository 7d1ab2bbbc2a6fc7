namespace CrateMae.Evaluation;

/// <summary>
/// Registers DejaVu Sans (from /usr/share/fonts/truetype/dejavu, Debian's fonts-dejavu-core) with ScottPlot once, so
/// plots get text even where SkiaSharp finds no system fonts. Falls back to ScottPlot's default font when absent.
/// </summary>
internal static class PlotFonts
{
    private const string Dir = "/usr/share/fonts/truetype/dejavu";
    private static readonly Lazy<string> Registered = new(Register);

    /// <summary>The font family plots should use.</summary>
    public static string Family => Registered.Value;

    public static void EnsureDejaVu() => _ = Registered.Value;

    private static string Register()
    {
        const string name = "DejaVu Sans";
        var regular = Path.Combine(Dir, "DejaVuSans.ttf");
        if (!File.Exists(regular)) return ScottPlot.Fonts.Default;
        ScottPlot.Fonts.AddFontFile(name, regular, bold: false, italic: false);
        var bold = Path.Combine(Dir, "DejaVuSans-Bold.ttf");
        if (File.Exists(bold)) ScottPlot.Fonts.AddFontFile(name, bold, bold: true, italic: false);
        return name;
    }
}
