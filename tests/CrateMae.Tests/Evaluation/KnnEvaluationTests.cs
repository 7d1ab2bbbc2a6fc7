using CrateMae.Evaluation;
using TorchSharp;
using static TorchSharp.torch;

namespace CrateMae.Tests.Evaluation;

public sealed class KnnEvaluationTests
{
    /// <summary>
    /// Three classes separated in 4 unit-noise dimensions, next to 4 dimensions of large class-free noise (std 100):
    /// the plain cosine and the 4 leading whitened directions see mostly the noise; all 8 whitened directions weigh the
    /// class dimensions evenly with it.
    /// </summary>
    private static (Tensor X, Tensor Y) NoisyBlobs(int perClass, long seed)
    {
        using var scope = NewDisposeScope();
        var centres = SyntheticData.Centres(3, 4, separation: 4, seed: 11);
        var (x, y) = SyntheticData.Blobs(3, perClass, 4, 4, seed, centres);
        var noise = randn(x.shape[0], 4, generator: new Generator((ulong)seed + 100)) * 100;
        return (cat([noise, x], 1).MoveToOuterDisposeScope(), y.MoveToOuterDisposeScope());
    }

    [Fact]
    public void GivenNoiseThatDominatesTheVariance_WhenWhiteningIsChosenOnValidation_ThenTheSizeThatSeparatesTheClassesWinsAndTheTestScoreIsItsOwn()
    {
        using var scope = NewDisposeScope();
        var (trainX, trainY) = NoisyBlobs(100, seed: 1);
        var (testX, testY) = NoisyBlobs(50, seed: 2);

        var r = KnnEvaluation.Evaluate(trainX, trainY, testX, testY, "blobs", null, k: 10, temperature: 0.07,
            whitenCandidates: [0, 4, 8], validationFraction: 0.2, seed: 0);

        Assert.Equal([0, 4, 8], r.WhitenCurve!.Select(p => p.Components));
        Assert.Equal(8, r.Whiten);
        Assert.Equal(r.WhitenCurve!.Max(p => p.ValTop1), r.ValTop1);
        Assert.True(r.ValTop1 > r.WhitenCurve![0].ValTop1 + 0.2, $"whitened {r.ValTop1}, plain {r.WhitenCurve[0].ValTop1}");
        Assert.Equal(60, r.ValSize);
        Assert.Equal(300, r.TrainSize);                       // the test set is scored against every training image

        using var whitening = PcaWhitening.Fit(trainX, 8);
        var expected = KnnClassifier.Evaluate(whitening.Apply(trainX), trainY, whitening.Apply(testX), testY, "blobs", null, k: 10);
        Assert.Equal(expected.Top1, r.Top1);
        var plain = KnnClassifier.Evaluate(trainX, trainY, testX, testY, "blobs", null, k: 10);
        Assert.True(r.Top1 > plain.Top1 + 0.2, $"whitened {r.Top1}, plain {plain.Top1}");
    }

    [Fact]
    public void GivenAValidationSplit_WhenScored_ThenTheHeldOutImagesAreScoredAgainstTheRestOnly()
    {
        using var scope = NewDisposeScope();
        var (trainX, trainY) = SyntheticData.Blobs(3, 40, 5, separation: 1.5, seed: 3);
        var (testX, testY) = SyntheticData.Blobs(3, 20, 5, separation: 1.5, seed: 4, centres: SyntheticData.Centres(3, 5, 1.5, 3));

        var r = KnnEvaluation.Evaluate(trainX, trainY, testX, testY, "blobs", null, k: 5, temperature: 0.1,
            whitenCandidates: [0], validationFraction: 0.25, seed: 7);

        var (rest, held) = LinearProbe.ValidationSplit(trainY.data<long>().ToArray(), 3, 0.25, 7, stratified: true);
        var restIdx = tensor(rest.Select(i => (long)i).ToArray());
        var heldIdx = tensor(held.Select(i => (long)i).ToArray());
        using var knn = new KnnClassifier(trainX.index_select(0, restIdx), trainY.index_select(0, restIdx), k: 5, temperature: 0.1, numClasses: 3);
        Assert.Equal(knn.Accuracy(trainX.index_select(0, heldIdx), trainY.index_select(0, heldIdx)).Top1, r.ValTop1);
        Assert.Equal(KnnClassifier.Evaluate(trainX, trainY, testX, testY, "blobs", null, k: 5, temperature: 0.1).Top1, r.Top1);
        Assert.Null(r.Whiten);
        Assert.Null(r.WhitenCurve);                          // one candidate: nothing was chosen
    }

    [Fact]
    public void GivenCandidatesThatScoreTheSame_WhenChosen_ThenTheFewestComponentsWin()
    {
        using var scope = NewDisposeScope();
        var (trainX, trainY) = SyntheticData.Blobs(3, 30, 4, separation: 100, seed: 5);
        var (testX, testY) = SyntheticData.Blobs(3, 10, 4, separation: 100, seed: 6, centres: SyntheticData.Centres(3, 4, 100, 5));

        var r = KnnEvaluation.Evaluate(trainX, trainY, testX, testY, "blobs", null, 5, 0.07, [4, 0, 3], 0.2, 0);

        Assert.All(r.WhitenCurve!, p => Assert.Equal(1.0, p.ValTop1));
        Assert.Null(r.Whiten);                               // 0 = the features as they are
        Assert.Equal(4, r.FeatureDim);
    }

    [Fact]
    public void GivenNoValidationSplit_WhenRun_ThenNoValidationFieldsAreWrittenAndSeveralCandidatesAreRefused()
    {
        using var scope = NewDisposeScope();
        var (x, y) = SyntheticData.Blobs(3, 10, 4, separation: 3, seed: 8);

        var r = KnnEvaluation.Evaluate(x, y, x, y, "blobs", null, 5, 0.07, [3], validationFraction: 0, seed: 0);
        Assert.Equal(3, r.Whiten);
        Assert.Null(r.ValSize);
        Assert.Null(r.ValTop1);
        var json = System.Text.Json.JsonDocument.Parse(r.ToJson()).RootElement;
        Assert.False(json.TryGetProperty("val_top1", out _));
        Assert.False(json.TryGetProperty("whiten_curve", out _));

        Assert.StartsWith("--whiten 0,3: choosing among several values needs a validation split",
            Assert.Throws<ArgumentException>(() => KnnEvaluation.Evaluate(x, y, x, y, "blobs", null, 5, 0.07, [0, 3], 0, 0)).Message);
        Assert.StartsWith("--whiten 3,3: expected distinct component counts",
            Assert.Throws<ArgumentException>(() => KnnEvaluation.Evaluate(x, y, x, y, "blobs", null, 5, 0.07, [3, 3], 0.2, 0)).Message);
    }
}
