using CrateMae.Data;
using CrateMae.Reporting;
using CrateMae.Tests.Data;
using SkiaSharp;
using TorchSharp;

namespace CrateMae.Tests.Reporting;

public sealed class ImageWriterTests : IDisposable
{
    private readonly TempDirectory _tmp = new();

    public void Dispose() => _tmp.Dispose();

    [Fact]
    public void GivenRgbTensor_WhenSavedAsPng_ThenDecodesToTheSamePixels()
    {
        var data = new float[3 * 4 * 5];
        for (int i = 0; i < data.Length; i++) data[i] = (i * 37 % 256) / 255f;
        using var t = torch.tensor(data, new long[] { 3, 4, 5 });
        var path = _tmp.File("out", "rgb.png");

        ImageWriter.SavePng(path, t);

        using var bmp = SKBitmap.Decode(path);
        Assert.Equal((5, 4), (bmp.Width, bmp.Height));
        var px = bmp.GetPixel(3, 2);
        Assert.Equal((byte)Math.Round(data[(0 * 20) + (2 * 5) + 3] * 255), px.Red);
        Assert.Equal((byte)Math.Round(data[(1 * 20) + (2 * 5) + 3] * 255), px.Green);
        Assert.Equal((byte)Math.Round(data[(2 * 20) + (2 * 5) + 3] * 255), px.Blue);
        Assert.Equal(["rgb.png"], Directory.GetFiles(_tmp.File("out")).Select(Path.GetFileName)); // no temp files left
    }

    [Fact]
    public void GivenGrayTensorOutOfRange_WhenSavedUpscaled_ThenClampedAndNearestNeighbourEnlarged()
    {
        using var t = torch.tensor(new float[] { -1f, 0.5f, 2f, float.NaN }, new long[] { 2, 2 });
        var path = _tmp.File("gray.png");

        ImageWriter.SavePng(path, t, upscale: 3);

        using var bmp = SKBitmap.Decode(path);
        Assert.Equal((6, 6), (bmp.Width, bmp.Height));
        Assert.Equal(new SKColor(0, 0, 0), bmp.GetPixel(2, 2));
        Assert.Equal(new SKColor(128, 128, 128), bmp.GetPixel(3, 0));
        Assert.Equal(new SKColor(255, 255, 255), bmp.GetPixel(0, 5));
        Assert.Equal(new SKColor(0, 0, 0), bmp.GetPixel(5, 5)); // NaN -> 0
    }

    [Fact]
    public void GivenTensorOutsideAnyScope_WhenConverted_ThenNoTemporaryTensorsStayAlive()
    {
        using var t = torch.rand(3, 6, 6, dtype: torch.ScalarType.Float64);
        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;

        var img = FloatImage.FromTensor(t);

        Assert.Equal(before, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
        Assert.False(t.IsInvalid);
        Assert.Equal((3, 6, 6), (img.Channels, img.Height, img.Width));
    }

    [Fact]
    public void GivenExistingFile_WhenOverwritten_ThenReplacedAtomically()
    {
        var path = _tmp.File("x.png");
        File.WriteAllText(path, "old");

        ImageWriter.SavePng(path, new FloatImage(1, 2, 2));

        using var bmp = SKBitmap.Decode(path);
        Assert.Equal(2, bmp.Width);
        Assert.Single(Directory.GetFiles(_tmp.Path));
    }

    [Fact]
    public void GivenFourChannelImage_WhenSaved_ThenErrorExplainsExpectedChannels()
    {
        var e = Assert.Throws<ArgumentException>(() => ImageWriter.SavePng(_tmp.File("bad.png"), new FloatImage(4, 2, 2)));

        Assert.Contains("1 (gray) or 3 (RGB)", e.Message);
    }
}
