using CrateMae.Evaluation;
using TorchSharp;
using static TorchSharp.torch;

namespace CrateMae.Tests.Evaluation;

[Collection(EvaluationTestCollection.Name)]
public sealed class FeatureExtractorTests
{
    private static IEnumerable<(Tensor Images, Tensor Labels)> Batches(Tensor images, Tensor labels, int batchSize)
    {
        for (int i = 0; i < images.shape[0]; i += batchSize)
        {
            int end = (int)Math.Min(images.shape[0], i + batchSize);
            yield return (images[i..end].clone(), labels[i..end].to(int32));   // fresh tensors, as a loader would make
        }
    }

    [Theory]
    [InlineData(Pooling.Cls)]
    [InlineData(Pooling.Mean)]
    [InlineData(Pooling.Grid)]
    public void GivenBatches_WhenExtracting_ThenFeaturesEqualThePooledForwardFeaturesInOrder(Pooling pooling)
    {
        using var scope = NewDisposeScope();
        var model = TinyModels.Create();
        var (images, labels) = TinyModels.HalvesImages(10, seed: 1);

        var (features, y) = FeatureExtractor.Extract(model, Batches(images, labels, 4), pooling);

        Tensor expected;
        using (no_grad())
        {
            var tokens = model.ForwardFeatures(images);
            expected = pooling switch
            {
                Pooling.Cls => tokens[.., 0],
                Pooling.Mean => tokens[.., 1..].mean([1]),
                _ => tokens[.., 1..].reshape(10, 4 * 16),                     // a 2×2 patch grid: each quadrant is one patch
            };
        }
        Assert.Equal([10L, pooling == Pooling.Grid ? 64L : 16L], features.shape);
        Assert.Equal(ScalarType.Float32, features.dtype);
        Assert.Equal(ScalarType.Int64, y.dtype);
        Assert.True(features.allclose(expected, rtol: 1e-5, atol: 1e-6));
        Assert.True(y.eq(labels).all().item<bool>());
        Assert.False(features.requires_grad);
    }

    [Fact]
    public void GivenAThreeByThreePatchGrid_WhenGridPooling_ThenEachQuadrantAveragesItsOverlappingTwoByTwoBlock()
    {
        using var scope = NewDisposeScope();
        var tokens = randn(2, 10, 3, generator: new Generator(5));              // cls + 3×3 patches, D = 3
        var patches = tokens[.., 1..].reshape(2, 3, 3, 3);                        // [B, row, col, D]

        var pooled = FeatureExtractor.Pool(tokens, Pooling.Grid);

        // adaptive_avg_pool2d 3 → 2: rows/cols [0, 2) and [1, 3), so the middle row and column count in two quadrants.
        Tensor Quadrant(int r, int c) => patches[.., r..(r + 2), c..(c + 2)].mean([1, 2]);
        var expected = cat([Quadrant(0, 0), Quadrant(0, 1), Quadrant(1, 0), Quadrant(1, 1)], 1);
        Assert.Equal([2L, 12L], pooled.shape);
        Assert.True(pooled.allclose(expected, rtol: 1e-6, atol: 1e-6));
        Assert.Throws<ArgumentException>(() => FeatureExtractor.Pool(randn(2, 7, 3), Pooling.Grid));   // 6 patches: not a square
    }

    [Fact]
    public void GivenALayer_WhenExtractingBoth_ThenFeaturesPoolThatBlocksOutputWithoutTheFinalNorm()
    {
        using var scope = NewDisposeScope();
        var model = TinyModels.Create(depth: 2);
        var (images, labels) = TinyModels.HalvesImages(6, seed: 4);
        int depth = model.Config.Depth;

        var first = Embeddings.ExtractBoth(model, Batches(images, labels, 4), blockNumber: 1);
        var last = Embeddings.ExtractBoth(model, Batches(images, labels, 4), blockNumber: depth);
        var plain = Embeddings.ExtractBoth(model, Batches(images, labels, 4));

        Tensor block1;
        using (no_grad()) block1 = model.EncoderBlocks[0].forward(model.EmbedUnmasked(images));   // Z¹, no final norm
        Assert.True(first.Get(Pooling.Mean).allclose(block1[.., 1..].mean([1]), rtol: 1e-5, atol: 1e-6));
        Assert.True(first.Get(Pooling.Cls).allclose(block1[.., 0], rtol: 1e-5, atol: 1e-6));
        Assert.True(last.Get(Pooling.Mean).eq(plain.Get(Pooling.Mean)).all().item<bool>(), "layer = depth must be the default features");
        var error = Assert.Throws<ArgumentException>(() => model.ForwardFeatures(images, blockNumber: depth + 1));
        Assert.Contains($"numbered 1 … {depth}", error.Message);
    }

    [Fact]
    public void GivenAnEnumeratorThatCreatesTensors_WhenExtracting_ThenOnlyTheTwoResultTensorsStayAlive()
    {
        using var scope = NewDisposeScope();
        var model = TinyModels.Create();
        var (images, labels) = TinyModels.HalvesImages(12, seed: 2);
        // Warm-up so lazily created module state does not count.
        var warm = FeatureExtractor.Extract(model, Batches(images, labels, 4), Pooling.Mean);
        warm.Features.Dispose();
        warm.Labels.Dispose();
        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;

        var (features, y) = FeatureExtractor.Extract(model, Batches(images, labels, 4), Pooling.Mean);

        Assert.Equal(before + 2, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
        features.Dispose();
        y.Dispose();
    }

    [Fact]
    public void GivenAModelInTrainingMode_WhenExtracting_ThenItRunsInEvalModeAndTheFlagIsRestored()
    {
        using var scope = NewDisposeScope();
        var model = TinyModels.Create();
        model.train();
        var (images, labels) = TinyModels.HalvesImages(4, seed: 3);

        FeatureExtractor.Extract(model, Batches(images, labels, 4), Pooling.Cls);

        Assert.True(model.training);
    }

    [Fact]
    public void GivenADeviceOtherThanTheModels_WhenExtracting_ThenTheErrorNamesTheDevice()
    {
        using var scope = NewDisposeScope();
        var model = TinyModels.Create();
        var (images, labels) = TinyModels.HalvesImages(4, seed: 3);

        var e = Assert.Throws<ArgumentException>(() =>
            FeatureExtractor.Extract(model, Batches(images, labels, 4), Pooling.Cls, new Device(DeviceType.CUDA, 0)));
        Assert.Equal("device", e.ParamName);
    }

    [Fact]
    public void GivenMismatchedLabels_WhenExtracting_ThenTheErrorNamesTheBatch()
    {
        using var scope = NewDisposeScope();
        var model = TinyModels.Create();
        var (images, labels) = TinyModels.HalvesImages(4, seed: 3);
        (Tensor, Tensor)[] batches = [(images, labels[..3])];

        var e = Assert.Throws<ArgumentException>(() => FeatureExtractor.Extract(model, batches, Pooling.Cls));
        Assert.Contains("batch 0", e.Message);
    }

    [Fact]
    public void GivenImages_WhenTakingRawPixels_ThenFeaturesAreTheFlattenedImages()
    {
        using var scope = NewDisposeScope();
        var (images, labels) = TinyModels.HalvesImages(7, seed: 4);

        var (features, y) = RawPixelFeatures.Extract(Batches(images, labels, 3));

        Assert.Equal([7L, 64L], features.shape);
        Assert.True(features.eq(images.reshape(7, 64)).all().item<bool>());
        Assert.True(y.eq(labels).all().item<bool>());
    }
}
