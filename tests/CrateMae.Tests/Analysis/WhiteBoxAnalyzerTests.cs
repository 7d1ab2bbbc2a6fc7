using CrateMae.Analysis;
using CrateMae.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace CrateMae.Tests.Analysis;

public sealed class WhiteBoxAnalyzerTests
{
    public WhiteBoxAnalyzerTests() => AnalysisTestSupport.Init();

    private static IEnumerable<Tensor> Batches(Tensor all, params int[] sizes)
    {
        int start = 0;
        foreach (var n in sizes)
        {
            using var slice = all[start..(start + n)];
            using var batch = slice.clone();
            yield return batch;
            start += n;
        }
    }

    [Fact]
    public void TinyCrate_ReturnsEveryLayer_WithFiniteValues_AndSparseOutputs()
    {
        // Given a tiny random CRATE-MAE and 5 images streamed in batches of 3 and 2
        var model = AnalysisTestSupport.TinyModel();
        using var imgs = AnalysisTestSupport.RandomImages(5, seed: 1);
        var analyzer = new WhiteBoxAnalyzer(model);
        var seen = new List<int>();

        // When analysed
        var report = analyzer.Analyze(Batches(imgs, 3, 2), "tiny random", new SyncProgress(seen.Add));

        // Then there are L = 2 layers, all values finite, ISTA outputs have exact zeros, and progress was reported
        Assert.Equal("tiny random", report.Model);
        Assert.Equal(5, report.Images);
        Assert.Equal("crate", report.BlockKind);
        Assert.Equal(CodingRate.DefaultEpsilon, report.Epsilon);
        Assert.Equal(new[] { 1, 2 }, report.Layers.Select(l => l.Layer));
        foreach (var l in report.Layers)
        {
            Assert.True(double.IsFinite(l.CodingRateMean) && double.IsFinite(l.CodingRateStd) && l.CodingRateMean > 0);
            Assert.True(l.ZeroFractionMean > 0 && l.ZeroFractionMean < 1, $"layer {l.Layer}: zero fraction {l.ZeroFractionMean}");
            Assert.Equal(1 - l.ZeroFractionMean, l.SparsityMean, 12);
            Assert.True(double.IsFinite(l.SparsityStd) && l.SparsityStd >= 0);
            Assert.Null(l.ForegroundRatioMean);         // noise has no plain background: every patch is foreground
        }
        Assert.Equal(new[] { 3, 5 }, seen);
    }

    [Fact]
    public void Statistics_FollowTheSpecDefinitions_AndDoNotDependOnBatching()
    {
        // Given a tiny CRATE-MAE and 6 images
        var model = AnalysisTestSupport.TinyModel(seed: 3);
        using var imgs = AnalysisTestSupport.RandomImages(6, seed: 2);
        var analyzer = new WhiteBoxAnalyzer(model);

        // When analysed in one batch and in uneven batches
        var whole = analyzer.Analyze([imgs], "m");
        var streamed = analyzer.Analyze(Batches(imgs, 1, 4, 1), "m");

        // Then the numbers agree (to float32 rounding: libtorch picks matmul kernels by batch shape, so the float32
        // projections differ in the last bits; Rᶜ itself is computed in float64)
        for (int l = 0; l < 2; l++)
        {
            Assert.Equal(whole.Layers[l].CodingRateMean, streamed.Layers[l].CodingRateMean, 1e-6 * whole.Layers[l].CodingRateMean);
            Assert.Equal(whole.Layers[l].CodingRateStd, streamed.Layers[l].CodingRateStd, 1e-6 * whole.Layers[l].CodingRateMean);
            Assert.Equal(whole.Layers[l].ZeroFractionMean, streamed.Layers[l].ZeroFractionMean, 12);
        }

        // And layer 1 is R^c of block 0's qkv projection of the embedded tokens; layer 2's sparsity is that of the
        // encoder output before the final norm
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var h = model.EmbedUnmasked(imgs);
        var blk0 = (CrateEncoderBlock)model.EncoderBlocks[0];
        var rc = CodingRate.Measure(blk0.Projection(h), blk0.Heads);
        Assert.Equal(rc.Mean, whole.Layers[0].CodingRateMean, 9);
        Assert.Equal(rc.Std, whole.Layers[0].CodingRateStd, 9);
        var features = model.ForwardFeatures(imgs, applyNorm: false);
        var zf = Sparsity.Measure(features);
        Assert.Equal(zf.Mean, whole.Layers[1].ZeroFractionMean, 12);
        Assert.Equal(zf.Std, whole.Layers[1].SparsityStd, 12);
    }

    [Fact]
    public void GivenObjectsOnAPlainBackground_WhenAnalysed_ThenEveryLayerHasTheForegroundRatioOfItsBlocksClsAttention()
    {
        // Given 3 images with a bright rectangle on black and one all-black image (no foreground: skipped)
        var model = AnalysisTestSupport.TinyModel(seed: 5);
        using var imgs = zeros(4, 1, 16, 16);
        imgs[0, 0, 2..6, 3..9] = tensor(2f);
        imgs[1, 0, 8..15, 1..5] = tensor(1.5f);
        imgs[2, 0, 5..12, 6..14] = tensor(3f);
        var analyzer = new WhiteBoxAnalyzer(model);

        // When analysed in two batches
        var report = analyzer.Analyze(Batches(imgs, 3, 1), "objects");

        // Then layer ℓ's ratio is the one ClsAttention measures for block ℓ over the same images
        for (int block = 1; block <= 2; block++)
        {
            var expected = ClsAttention.ForegroundRatio(analyzer.Probe, [imgs], block);
            var layer = report.Layers[block - 1];
            Assert.Equal(3, expected.Images);
            Assert.NotNull(layer.ForegroundRatioMean);
            Assert.Equal(expected.Mean, layer.ForegroundRatioMean!.Value, 5);
            Assert.Equal(expected.Std, layer.ForegroundRatioStd!.Value, 5);
        }
    }

    [Fact]
    public void VitBaseline_HasNoExactZeros()
    {
        // Given a tiny ViT-MAE
        var model = AnalysisTestSupport.TinyModel(BlockKind.Vit);
        using var imgs = AnalysisTestSupport.RandomImages(3, seed: 5);

        // When analysed
        var report = new WhiteBoxAnalyzer(model).Analyze([imgs], "vit");

        // Then the residual block outputs are dense and coding rates are finite
        Assert.Equal("vit", report.BlockKind);
        Assert.All(report.Layers, l =>
        {
            Assert.True(l.ZeroFractionMean < 1e-3);
            Assert.True(double.IsFinite(l.CodingRateMean));
        });
    }

    [Fact]
    public void AttentionMaps_FromTheProbe_EqualTheModels_AndRowsSumToOne()
    {
        // Given a tiny CRATE-MAE and a probe
        var model = AnalysisTestSupport.TinyModel(seed: 9);
        using var imgs = AnalysisTestSupport.RandomImages(2, seed: 6);
        var probe = new LayerProbe(model);

        for (int blockNumber = 1; blockNumber <= 2; blockNumber++)
        {
            // When attention maps of each block are read through the probe and through the model
            using var mine = probe.AttentionMaps(imgs, blockNumber);
            using var reference = model.AttentionMaps(imgs, blockNumber);

            // Then they are equal, [B, K, N, N], and each row sums to 1 (to float rounding: the probe runs without
            // autograd, so through the inference kernels of LayerNormSimd; the model's method here through libtorch's LN)
            Assert.Equal(new long[] { 2, 2, 17, 17 }, mine.shape);
            Assert.True(mine.allclose(reference, rtol: 0, atol: 1e-6));
            using var rowSums = mine.sum(-1);
            Assert.True(rowSums.allclose(ones_like(rowSums), atol: 1e-5));
        }
        Assert.Throws<ArgumentException>(() => probe.AttentionMaps(imgs, 0));
        Assert.Throws<ArgumentException>(() => probe.AttentionMaps(imgs, 3));
    }

    [Fact]
    public void PatchDescriptors_AreTheProjectionWithoutCls()
    {
        var model = AnalysisTestSupport.TinyModel(seed: 4);
        using var imgs = AnalysisTestSupport.RandomImages(2, seed: 8);
        var probe = new LayerProbe(model);

        using var descriptors = probe.PatchDescriptors(imgs);                  // default: last layer
        Assert.Equal(new long[] { 2, 16, 16 }, descriptors.shape);
        Assert.Equal(2, probe.HeadsOf());

        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var embedded = model.EmbedUnmasked(imgs);
        var h = model.EncoderBlocks[0].forward(embedded);
        var expected = ((IAttentionBlock)model.EncoderBlocks[1]).Projection(h)[.., 1..];
        Assert.True(descriptors.allclose(expected, atol: 1e-7));

        // Block numbers count from 1, as --layer does: block 1 is the first block, whose input is the embedding.
        var first = probe.PatchDescriptors(imgs, blockNumber: 1);
        Assert.True(first.allclose(((IAttentionBlock)model.EncoderBlocks[0]).Projection(embedded)[.., 1..], atol: 1e-7));
        var e = Assert.Throws<ArgumentException>(() => probe.HeadsOf(0));
        Assert.Contains("numbered 1 … 2", e.Message);
    }

    [Fact]
    public void Analyze_DisposesItsIntermediates()
    {
        var model = AnalysisTestSupport.TinyModel();
        using var imgs = AnalysisTestSupport.RandomImages(4, seed: 3);
        var analyzer = new WhiteBoxAnalyzer(model);
        analyzer.Analyze([imgs], "warm-up");
        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        analyzer.Analyze(Batches(imgs, 2, 2), "again");
        Assert.Equal(before, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }

    [Fact]
    public void Analyze_RejectsAnEmptyStream()
    {
        var analyzer = new WhiteBoxAnalyzer(AnalysisTestSupport.TinyModel());
        var e = Assert.Throws<ArgumentException>(() => analyzer.Analyze([], "none"));
        Assert.Contains("no images", e.Message);
    }

    [Fact]
    public void Report_HasAStableSnakeCaseJson_ThatRoundTrips()
    {
        // Given a report
        var report = new WhiteBoxReport("crate-mini", 2, "crate", 0.01,
            [new LayerStatistics(1, 10.5, 0.25, 0.75, 0.01, 0.25), new LayerStatistics(2, 9.5, 0.5, 0.5, 0.02, 0.5)]);

        // When serialised and parsed back
        var json = report.ToJson();
        var back = WhiteBoxReport.FromJson(json);

        // Then field names and order are the documented ones and nothing is lost
        string[] order = ["\"model\"", "\"images\"", "\"block_kind\"", "\"epsilon\"", "\"layers\"", "\"layer\"", "\"coding_rate_mean\"",
            "\"coding_rate_std\"", "\"sparsity_mean\"", "\"sparsity_std\"", "\"zero_fraction_mean\"", "\"foreground_ratio_mean\"", "\"foreground_ratio_std\""];
        var positions = order.Select(k => json.IndexOf(k, StringComparison.Ordinal)).ToArray();
        Assert.All(positions, p => Assert.True(p >= 0));
        Assert.Equal(positions.OrderBy(p => p), positions);
        Assert.Equal(report.Model, back.Model);
        Assert.Equal(report.Layers, back.Layers);

        // And unknown or missing fields are rejected
        Assert.Throws<ArgumentException>(() => WhiteBoxReport.FromJson(json.Replace("\"epsilon\"", "\"eps\"")));
        Assert.Throws<ArgumentException>(() => WhiteBoxReport.FromJson("{\"model\": \"x\"}"));

        // And Save/Load go through a file
        var (dir, keep) = AnalysisTestSupport.OutputDir("report");
        try
        {
            var path = Path.Combine(dir, "whitebox.json");
            report.Save(path);
            Assert.Equal(report.Layers, WhiteBoxReport.Load(path).Layers);
            Assert.Single(Directory.GetFiles(dir));
        }
        finally
        {
            if (!keep) Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>Progress that reports synchronously (Progress&lt;T&gt; posts to the thread pool).</summary>
    private sealed class SyncProgress(Action<int> report) : IProgress<int>
    {
        public void Report(int value) => report(value);
    }
}
