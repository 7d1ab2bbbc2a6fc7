using CrateMae.Reporting;

namespace CrateMae.Tests.Reporting;

public sealed class TextFontsTests
{
    private const string DejaVuSans = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

    [Fact]
    public void GivenTheDebianDejaVuFile_WhenFontsAreAsked_ThenSkiaAndScottPlotUseDejaVuSans_OtherwiseTheirDefaults()
    {
        bool installed = File.Exists(DejaVuSans);

        Assert.Equal(installed ? "DejaVu Sans" : ScottPlot.Fonts.Default, TextFonts.PlotFamily);
        Assert.NotNull(TextFonts.Typeface);
        if (installed)
        {
            Assert.Equal("DejaVu Sans", TextFonts.Typeface.FamilyName);
            Assert.True(TextFonts.Typeface.GlyphCount > 0);
        }
    }
}
