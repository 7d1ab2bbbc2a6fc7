using CrateMae.Data;

namespace CrateMae.Tests.Data;

public sealed class TransformTests
{
    private static readonly SampleRandom AnyRandom = new(0, 0, 0);

    private static FloatImage Ramp(int c, int h, int w)
    {
        var img = new FloatImage(c, h, w);
        for (int i = 0; i < img.Data.Length; i++) img.Data[i] = (i % 97) / 96f;
        return img;
    }

    [Fact]
    public void GivenShorterSideResize_WhenApplied_ThenAspectIsKeptLikeTorchvision()
    {
        var img = Ramp(3, 40, 100);

        var output = new Resize(20).Apply(img, AnyRandom);

        Assert.Equal((3, 20, 50), (output.Channels, output.Height, output.Width));
        Assert.Equal((31, 20), new Resize(20).OutputSize(33, 21)); // long side int(20 * 33 / 21) = int(31.43) = 31
    }

    [Theory]
    [InlineData(Interpolation.Bilinear)]
    [InlineData(Interpolation.Bicubic)]
    public void GivenConstantImage_WhenResizedUpOrDown_ThenStaysConstant(Interpolation interpolation)
    {
        var img = new FloatImage(1, 13, 17);
        Array.Fill(img.Data, 0.25f);

        foreach (var (h, w) in new[] { (40, 9), (5, 33), (13, 17) })
        {
            var output = new Resize(h, w, interpolation).Apply(img.Clone(), AnyRandom);
            Assert.Equal((h, w), (output.Height, output.Width));
            Assert.All(output.Data, v => Assert.Equal(0.25f, v, 1e-5f));
        }
    }

    [Fact]
    public void GivenFourByFour_WhenHalvedWithPlainBilinear_ThenEachOutputIsTheTwoByTwoBlockMean()
    {
        var img = new FloatImage(1, 4, 4, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);

        var output = new Resize(2, 2, Interpolation.Bilinear, antialias: false).Apply(img, AnyRandom);

        Assert.Equal([2.5f, 4.5f, 10.5f, 12.5f], output.Data);
    }

    [Fact]
    public void GivenFourByFour_WhenHalvedWithAntialiasedBilinear_ThenMatchesPilTriangleFilter()
    {
        var img = new FloatImage(1, 4, 4, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);

        var output = new Resize(2, 2, Interpolation.Bilinear).Apply(img, AnyRandom);

        // PIL: support widened to 2 px, taps at 0,1,2 with weights .75,.75,.25 (and mirrored), normalised by 1.75.
        float a = ((0.75f * 0) + (0.75f * 1) + (0.25f * 2)) / 1.75f, b = ((0.25f * 1) + (0.75f * 2) + (0.75f * 3)) / 1.75f;
        float[] expected = [a + (4 * a), b + (4 * a), a + (4 * b), b + (4 * b)];
        for (int i = 0; i < 4; i++) Assert.Equal(expected[i], output.Data[i], 1e-5f);
    }

    [Fact]
    public void GivenUpscaleByTwo_WhenBilinear_ThenMatchesHalfPixelInterpolation()
    {
        var img = new FloatImage(1, 1, 2, [0f, 1f]);

        var output = new Resize(1, 4, Interpolation.Bilinear).Apply(img, AnyRandom);

        // align_corners=False centres at x = 0.25 .. 1.25 in input pixels (edge-clamped): 0, 0.25, 0.75, 1.
        Assert.Equal([0f, 0.25f, 0.75f, 1f], output.Data);
    }

    private static readonly float[] PilInput =
    [
        0.0f, 0.7f, 0.3f, 1.0f, 0.6f, 0.2f, 0.9f, 0.5f, 0.1f, 0.8f, 0.4f, 0.0f, 0.7f, 0.3f, 1.0f, 0.6f, 0.2f, 0.9f,
        0.5f, 0.1f, 0.8f, 0.4f, 0.0f, 0.7f, 0.3f, 1.0f, 0.6f, 0.2f, 0.9f, 0.5f, 0.1f, 0.8f, 0.4f, 0.0f, 0.7f,
    ];

    [Fact]
    public void GivenReferenceImage_WhenDownscaledBicubic_ThenMatchesPillow()
    {
        // Pillow 9.4: Image.fromarray(a, "F").resize((4, 3), Image.BICUBIC) of the 5x7 input.
        float[] expected =
        [
            0.3099208f, 0.5927586f, 0.4571191f, 0.5291305f, 0.5644136f, 0.4825006f,
            0.5176629f, 0.4518116f, 0.4998664f, 0.3951279f, 0.5840105f, 0.3790975f,
        ];

        var output = new Resize(3, 4, Interpolation.Bicubic).Apply(new FloatImage(1, 5, 7, (float[])PilInput.Clone()), AnyRandom);

        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], output.Data[i], 1e-5f);
    }

    [Fact]
    public void GivenReferenceImage_WhenUpscaledBilinear_ThenMatchesPillow()
    {
        // Pillow 9.4: Image.fromarray(a, "F").resize((11, 9), Image.BILINEAR), first two rows.
        float[] expectedRows01 =
        [
            0f, 0.3181818f, 0.6636363f, 0.4090909f, 0.5545455f, 1f, 0.7454545f, 0.4909091f, 0.2363636f, 0.5818182f, 0.9f,
            0.1666667f, 0.3181818f, 0.4969697f, 0.4757576f, 0.5878788f, 0.8f, 0.5454546f, 0.3909091f, 0.369697f, 0.5484848f, 0.7f,
        ];

        var output = new Resize(9, 11, Interpolation.Bilinear).Apply(new FloatImage(1, 5, 7, (float[])PilInput.Clone()), AnyRandom);

        for (int i = 0; i < expectedRows01.Length; i++) Assert.Equal(expectedRows01[i], output.Data[i], 1e-5f);
        Assert.Equal(0.7f, output.Data[^1], 1e-5f);
    }

    [Fact]
    public void GivenCenterCrop_WhenApplied_ThenTakesTheRoundedCentre()
    {
        var img = Ramp(2, 7, 8);

        var output = new CenterCrop(3, 4).Apply(img, AnyRandom);

        Assert.Equal((2, 3, 4), (output.Channels, output.Height, output.Width));
        for (int c = 0; c < 2; c++)
            for (int y = 0; y < 3; y++)
                for (int x = 0; x < 4; x++)
                    Assert.Equal(img[c, y + 2, x + 2], output[c, y, x]); // round(4/2)=2, round(4/2)=2
    }

    [Fact]
    public void GivenCropLargerThanImage_WhenApplied_ThenPadsWithZeros()
    {
        var img = new FloatImage(1, 2, 2, [1, 2, 3, 4]);

        var output = new CenterCrop(4).Apply(img, AnyRandom);

        Assert.Equal([0, 0, 0, 0, 0, 1, 2, 0, 0, 3, 4, 0, 0, 0, 0, 0], output.Data);
    }

    [Fact]
    public void GivenFlip_WhenApplied_ThenOutputIsAnExactMirror()
    {
        var img = Ramp(3, 5, 7);
        var original = img.Clone();

        var flipped = new RandomHorizontalFlip(1.0).Apply(img, new SampleRandom(1, 2, 3));

        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 5; y++)
                for (int x = 0; x < 7; x++)
                    Assert.Equal(original[c, y, 6 - x], flipped[c, y, x]);
        RandomHorizontalFlip.Flip(flipped);
        Assert.Equal(original.Data, flipped.Data);
    }

    [Fact]
    public void GivenFlipProbabilityZero_WhenApplied_ThenImageUnchanged()
    {
        var img = Ramp(1, 3, 3);
        var original = img.Clone();

        Assert.Equal(original.Data, new RandomHorizontalFlip(0.0).Apply(img, AnyRandom).Data);
    }

    [Fact]
    public void GivenNormalize_WhenApplied_ThenSubtractsMeanAndDividesByStdPerChannel()
    {
        var img = new FloatImage(2, 1, 2, [0.5f, 1.0f, 0.2f, 0.0f]);

        var output = new Normalize([0.5f, 0.1f], [0.25f, 0.5f]).Apply(img, AnyRandom);

        Assert.Equal(0f, output.Data[0], 1e-6f);
        Assert.Equal(2f, output.Data[1], 1e-6f);
        Assert.Equal(0.2f, output.Data[2], 1e-6f);
        Assert.Equal(-0.2f, output.Data[3], 1e-6f);
    }

    [Fact]
    public void GivenChannelMismatch_WhenNormalized_ThenErrorMentionsForChannels()
    {
        var e = Assert.Throws<ArgumentException>(() => new Normalize(NormalizationStats.Cifar10).Apply(new FloatImage(1, 2, 2), AnyRandom));

        Assert.Contains("ForChannels", e.Message);
    }

    [Fact]
    public void GivenRgb_WhenConvertedToGray_ThenItu601Luma()
    {
        var img = new FloatImage(3, 1, 1, [1f, 0.5f, 0.25f]);

        var gray = ConvertChannels.Convert(img, 1);

        Assert.Equal((0.299f * 1f) + (0.587f * 0.5f) + (0.114f * 0.25f), gray.Data[0], 1e-6f);
    }

    [Fact]
    public void GivenGray_WhenConvertedToRgb_ThenReplicated()
    {
        var img = new FloatImage(1, 1, 2, [0.1f, 0.9f]);

        Assert.Equal([0.1f, 0.9f, 0.1f, 0.9f, 0.1f, 0.9f], ConvertChannels.Convert(img, 3).Data);
    }

    [Fact]
    public void GivenStats_WhenAdaptedBetweenChannelCounts_ThenReplicatedOrLuma()
    {
        Assert.Equal([0.2860f, 0.2860f, 0.2860f], NormalizationStats.FashionMnist.ForChannels(3).Mean);
        Assert.Equal((0.299f * 0.485f) + (0.587f * 0.456f) + (0.114f * 0.406f), NormalizationStats.ImageNet.ForChannels(1).Mean[0], 1e-6f);
    }

    [Fact]
    public void GivenRandomResizedCrop_WhenParamsSampled_ThenBoxIsInsideAndWithinScaleAndRatio()
    {
        var rrc = new RandomResizedCrop(16);
        for (int i = 0; i < 500; i++)
        {
            var (top, left, h, w) = rrc.GetParams(60, 80, new SampleRandom(7, 0, i));
            Assert.InRange(top, 0, 60 - h);
            Assert.InRange(left, 0, 80 - w);
            double area = (double)h * w / (60 * 80);
            Assert.InRange(area, 0.17, 1.0); // 0.2 up to rounding
            Assert.InRange((double)w / h, 0.70, 1.42);
        }
    }

    [Fact]
    public void GivenExtremelyWideImage_WhenNoTryFits_ThenFallsBackToCentreCropAtMaxRatio()
    {
        var rrc = new RandomResizedCrop(8, minScale: 0.9, maxScale: 1.0);

        var (top, left, h, w) = rrc.GetParams(2, 100, new SampleRandom(1, 1, 1));

        Assert.Equal((0, 2), (top, h));
        Assert.Equal(3, w); // round(2 * 4/3)
        Assert.Equal((100 - 3) / 2, left);
    }

    [Fact]
    public void GivenRandomResizedCrop_WhenApplied_ThenOutputIsSizeBySize()
    {
        var output = new RandomResizedCrop(24).Apply(Ramp(3, 37, 53), new SampleRandom(3, 0, 5));

        Assert.Equal((3, 24, 24), (output.Channels, output.Height, output.Width));
    }

    [Fact]
    public void GivenSameSeedEpochAndIndex_WhenTrainPipelineApplied_ThenIdentical_AndDifferentSeedOrEpochDiffers()
    {
        var pipeline = TransformPipeline.Train(16, 3, NormalizationStats.ImageNet);
        var image = TestFiles.RandomRgb(40, 50, 11);

        var a = pipeline.Apply(image, seed: 5, epoch: 2, index: 9).Data;
        var b = pipeline.Apply(image, seed: 5, epoch: 2, index: 9).Data;
        var otherSeed = pipeline.Apply(image, seed: 6, epoch: 2, index: 9).Data;
        var otherEpoch = pipeline.Apply(image, seed: 5, epoch: 3, index: 9).Data;
        var otherIndex = pipeline.Apply(image, seed: 5, epoch: 2, index: 10).Data;

        Assert.Equal(a, b);
        Assert.NotEqual(a, otherSeed);
        Assert.NotEqual(a, otherEpoch);
        Assert.NotEqual(a, otherIndex);
    }

    [Fact]
    public void GivenGrayImage_WhenTrainPipelineForRgbModel_ThenThreeIdenticalNormalizedPlanes()
    {
        var pipeline = TransformPipeline.Train(12, 3, NormalizationStats.FashionMnist);
        var image = new ImageData(1, 28, 28, TestFiles.Bytes(784, 4));

        var output = pipeline.Apply(image, 1, 0, 0);

        Assert.Equal((3, 12, 12), (output.Channels, output.Height, output.Width));
        Assert.Equal(output.Plane(0).ToArray(), output.Plane(1).ToArray());
        Assert.Equal(output.Plane(0).ToArray(), output.Plane(2).ToArray());
    }

    [Fact]
    public void GivenRgbImage_WhenEvalPipelineForGrayModel_ThenOneChannel()
    {
        var output = TransformPipeline.Eval(8, 1, NormalizationStats.Cifar10).Apply(TestFiles.RandomRgb(32, 32, 2), 0, 0, 0);

        Assert.Equal((1, 8, 8), (output.Channels, output.Height, output.Width));
    }

    [Fact]
    public void GivenNativeSizeImage_WhenEvalPipelineAtThatSize_ThenOnlyNormalized()
    {
        var image = new ImageData(1, 28, 28, TestFiles.Bytes(784, 8));

        var output = TransformPipeline.Eval(28, 1, NormalizationStats.FashionMnist).Apply(image, 0, 0, 0);

        for (int i = 0; i < 784; i++)
            Assert.Equal(((image.Pixels[i] / 255f) - 0.2860f) / 0.3530f, output.Data[i], 1e-5f);
    }

    [Fact]
    public void GivenImageNetEvalProtocol_WhenApplied_ThenResizesShorterSideThenCentreCrops()
    {
        var pipeline = TransformPipeline.Eval(224, 3, NormalizationStats.ImageNet, cropFraction: 0.875);

        var resize = Assert.IsType<Resize>(pipeline.Steps.First(s => s is Resize));
        Assert.Equal(256, resize.ShorterSide);
        var output = pipeline.Apply(TestFiles.RandomRgb(300, 400, 1), 0, 0, 0);
        Assert.Equal((3, 224, 224), (output.Channels, output.Height, output.Width));
    }

    [Fact]
    public void GivenPipelineWithoutCrop_WhenApplied_ThenShapeErrorExplainsExpectedShape()
    {
        var pipeline = new TransformPipeline(8, 1, [new Resize(8)]);

        var e = Assert.Throws<InvalidOperationException>(() => pipeline.Apply(new ImageData(1, 8, 12, new byte[96]), 0, 0, 0));

        Assert.Contains("expected 1x8x8", e.Message);
    }

    [Fact]
    public void GivenSampleRandom_WhenSameKey_ThenSameStream()
    {
        var a = new SampleRandom(1, 2, 3);
        var b = new SampleRandom(1, 2, 3);
        var c = new SampleRandom(1, 2, 3, stream: 1);

        var sa = Enumerable.Range(0, 8).Select(_ => a.NextUInt64()).ToArray();
        Assert.Equal(sa, Enumerable.Range(0, 8).Select(_ => b.NextUInt64()));
        Assert.NotEqual(sa, Enumerable.Range(0, 8).Select(_ => c.NextUInt64()));
        var r = new SampleRandom(9, 9, 9);
        Assert.All(Enumerable.Range(0, 1000).Select(_ => r.NextInt(3, 7)), v => Assert.InRange(v, 3, 6));
    }
}
