using CrateMae.Data;
using CrateMae.Reporting;
using TorchSharp;

namespace CrateMae.Tests.Reporting;

public sealed class HeatmapTests
{
    [Fact]
    public void GivenAlphaOne_WhenOverlaid_ThenPixelsAreTheColormapOfTheNearestMapCell()
    {
        var image = new FloatImage(1, 4, 4);
        float[] map = [0f, 1f, 0.5f, 0.25f];

        var output = Heatmap.Overlay(image, map, 2, 2, Colormap.Viridis, alpha: 1f);

        Assert.Equal((3, 4, 4), (output.Channels, output.Height, output.Width));
        var top = Heatmap.GetColor(Colormap.Viridis, 1f);
        Assert.Equal(top.R, output[0, 0, 3], 1e-6f);
        Assert.Equal(top.G, output[1, 1, 2], 1e-6f);
        var bottom = Heatmap.GetColor(Colormap.Viridis, 0f);
        Assert.Equal(bottom.B, output[2, 0, 0], 1e-6f);
        Assert.True(top.G > 0.8f && bottom.R < 0.35f, "viridis: yellow at 1, dark purple at 0");
    }

    [Fact]
    public void GivenAlphaZero_WhenOverlaid_ThenImageUnchanged()
    {
        var image = new FloatImage(3, 2, 2, [0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f, 0.8f, 0.9f, 1f, 0f, 0.5f]);

        var output = Heatmap.Overlay(image, [0f, 1f, 1f, 0f], 2, 2, Colormap.Jet, alpha: 0f);

        Assert.Equal(image.Data, output.Data);
    }

    [Fact]
    public void GivenUnnormalizedMap_WhenNormalized_ThenMinAndMaxGetTheEndColors()
    {
        var colored = Heatmap.Colorize([10f, 20f, 15f, 10f], 2, 2, Colormap.Gray, normalize: true);

        Assert.Equal([0f, 1f, 0.5019608f, 0f], colored.Plane(0).ToArray());
    }

    [Fact]
    public void GivenTensors_WhenOverlaidSmoothly_ThenImageSizedRgbInRange()
    {
        using var img = torch.rand(1, 28, 28);
        using var map = torch.rand(7, 7);

        var output = Heatmap.Overlay(img, map, Colormap.Turbo, smooth: true);

        Assert.Equal((3, 28, 28), (output.Channels, output.Height, output.Width));
        Assert.All(output.Data, v => Assert.InRange(v, 0f, 1f));
    }

    [Fact]
    public void GivenMapOfWrongLength_WhenOverlaid_ThenErrorStatesExpectedSize()
    {
        var e = Assert.Throws<ArgumentException>(() => Heatmap.Overlay(new FloatImage(1, 4, 4), new float[5], 2, 2));

        Assert.Contains("2x2", e.Message);
    }
}
