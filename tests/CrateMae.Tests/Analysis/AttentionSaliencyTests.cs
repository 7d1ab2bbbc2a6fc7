using CrateMae.Analysis;
using static TorchSharp.torch;

namespace CrateMae.Tests.Analysis;

public sealed class AttentionSaliencyTests
{
    public AttentionSaliencyTests() => AnalysisTestSupport.Init();

    [Fact]
    public void ClsMaps_TakeRowZeroOverPatchColumns_RowMajor()
    {
        // Given attention [1, 2, 7, 7] whose entry (k, i, j) encodes 1000k + 10i + j, for a 2×3 patch grid
        var data = new float[2 * 7 * 7];
        for (int k = 0; k < 2; k++)
        for (int i = 0; i < 7; i++)
        for (int j = 0; j < 7; j++)
            data[(k * 7 + i) * 7 + j] = 1000 * k + 10 * i + j;
        using var attention = tensor(data).view(1, 2, 7, 7);

        // When
        using var maps = AttentionSaliency.ClsMaps(attention, 2, 3);

        // Then map (k, r, c) = attention (k, 0, 1 + r·3 + c): the cls query row, cls column dropped
        Assert.Equal(new long[] { 1, 2, 2, 3 }, maps.shape);
        for (int k = 0; k < 2; k++)
        for (int r = 0; r < 2; r++)
        for (int c = 0; c < 3; c++)
            Assert.Equal(1000f * k + 1 + r * 3 + c, maps[0, k, r, c].item<float>());
        using var avg = AttentionSaliency.HeadAverage(maps);
        Assert.Equal(500f + 1 + 5, avg[0, 1, 2].item<float>());
    }

    [Fact]
    public void ClsMaps_RejectAGridThatDoesNotFit()
    {
        using var attention = ones(1, 1, 7, 7);
        Assert.Throws<ArgumentException>(() => AttentionSaliency.ClsMaps(attention, 3, 3));
        Assert.Throws<ArgumentException>(() => AttentionSaliency.ClsMaps(ones(1, 7, 7), 2, 3));
    }

    [Fact]
    public void UpsampleNearest_RepeatsEachCell()
    {
        using var maps = tensor(new float[] { 1, 2, 3, 4 }).view(1, 2, 2);
        using var up = AttentionSaliency.UpsampleNearest(maps, 2, 3);
        Assert.Equal(new long[] { 1, 4, 6 }, up.shape);
        Assert.Equal(2f, up[0, 1, 5].item<float>());
        Assert.Equal(3f, up[0, 2, 0].item<float>());
    }

    [Fact]
    public void ForegroundMask_FindsPatchesThatDifferFromTheBorder()
    {
        // Given an 8×8 RGB image on a constant background with an object in pixel rows 2..5, columns 4..5,
        // one stray pixel at (7, 1) and a sub-tolerance wobble at (0, 6)
        using var img = full(1, 3, 8, 8, 0.3f);
        img[0, .., 2..6, 4..6] = tensor(0.9f);
        img[0, 1, 7, 1] = tensor(-1f);
        img[0, 0, 0, 6] = tensor(0.3f + 1e-5f);

        // When patches of 2×2 are classified
        using var mask = AttentionSaliency.ForegroundMask(img, patchSize: 2);

        // Then patch rows 1..2 of column 2 and the stray pixel's patch (3, 0) are foreground, nothing else
        Assert.Equal(new long[] { 1, 4, 4 }, mask.shape);
        var expected = new bool[4, 4];
        expected[1, 2] = expected[2, 2] = expected[3, 0] = true;
        for (int y = 0; y < 4; y++)
        for (int x = 0; x < 4; x++)
            Assert.Equal(expected[y, x], mask[0, y, x].item<bool>());
        using var bg = AttentionSaliency.BackgroundValue(img);
        Assert.Equal(0.3f, bg[0, 2].item<float>(), 6);
    }

    [Fact]
    public void ForegroundRatio_OnAttentionConcentratedOnAKnownSquare()
    {
        // Given a 4×4 grid, a 2×2 foreground square (share 1/4) and cls attention giving the square 60 % of the
        // patch mass (the cls column takes 0.1 and is excluded); plus an image without foreground and one all foreground
        const int g = 4, l = g * g;
        using var fg = zeros(3, g, g, dtype: ScalarType.Bool);
        fg[0, 1..3, 1..3] = tensor(true);
        fg[2] = tensor(true);
        using var attention = zeros(3, 1, l + 1, l + 1);
        for (int b = 0; b < 3; b++)
        {
            attention[b, 0, 0, 0] = tensor(0.1f);
            for (int t = 0; t < l; t++)
            {
                bool inSquare = (t / g) is 1 or 2 && (t % g) is 1 or 2;
                attention[b, 0, 0, t + 1] = tensor(0.9f * (inSquare ? 0.6f / 4 : 0.4f / 12));
            }
        }

        // When the ratio is taken from the head-averaged cls saliency
        using var maps = AttentionSaliency.ClsMaps(attention, g, g);
        using var avg = AttentionSaliency.HeadAverage(maps);
        var result = AttentionSaliency.ForegroundRatio(avg, fg);

        // Then ratio = 0.6 / 0.25 = 2.4 for the first image; the other two are skipped and counted
        Assert.Equal(2.4, result.Mean, 5);
        Assert.Equal(1, result.Images);
        Assert.Equal(2, result.Skipped);
        Assert.Equal(2.4, result.PerImage[0], 5);
        Assert.True(double.IsNaN(result.PerImage[1]) && double.IsNaN(result.PerImage[2]));
    }

    [Fact]
    public void ForegroundRatio_IsOneForUniformAttention()
    {
        using var saliency = ones(2, 3, 3);
        using var fg = zeros(2, 3, 3, dtype: ScalarType.Bool);
        fg[.., 0] = tensor(true);
        var result = AttentionSaliency.ForegroundRatio(saliency, fg);
        Assert.Equal(1.0, result.Mean, 12);
        Assert.Equal(0.0, result.Std, 12);
        Assert.Equal(2, result.Images);
        Assert.Throws<ArgumentException>(() => AttentionSaliency.ForegroundRatio(saliency, ones(2, 3, 3)));
    }
}
