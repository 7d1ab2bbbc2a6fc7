using CrateMae.Evaluation;
using static TorchSharp.torch;

namespace CrateMae.Tests.Evaluation;

[Collection(EvaluationTestCollection.Name)]
public sealed class KnnClassifierTests
{
    // Query (1, 0). Neighbours: class 0 at similarity 1, two class-1 points at similarity 0.9, far points of classes 2-4.
    private static (Tensor X, Tensor Y) WeightingToy()
    {
        float s = MathF.Sqrt(0.19f);
        var x = tensor(new float[]
        {
            1, 0,        // class 0, sim 1
            0.9f, s,     // class 1, sim 0.9
            0.9f, -s,    // class 1, sim 0.9
            -1, 0,       // class 2, sim −1
            0, 1,        // class 3, sim 0
            0, -1,       // class 4, sim 0
        }).view(6, 2);
        return (x, tensor(new long[] { 0, 1, 1, 2, 3, 4 }));
    }

    [Fact]
    public void GivenOneCloseNeighbourAgainstTwoFartherOnes_WhenVotingWithT007_ThenTheExpWeightingLetsTheCloseOneWin()
    {
        using var scope = NewDisposeScope();
        var (x, y) = WeightingToy();
        using var knn = new KnnClassifier(x, y, k: 3, temperature: 0.07);
        var q = tensor(new float[] { 2, 0 }).view(1, 2);                     // not unit length: normalised inside

        var scores = knn.Scores(q);
        var pred = knn.Predict(q);

        // class 0: exp(1/0.07) = 1.6e6; class 1: 2·exp(0.9/0.07) = 7.7e5 → class 0, although class 1 has the majority.
        Assert.Equal(Math.Exp(1 / 0.07), scores[0, 0].item<float>(), Math.Exp(1 / 0.07) * 1e-5);
        Assert.Equal(2 * Math.Exp(0.9 / 0.07), scores[0, 1].item<float>(), Math.Exp(0.9 / 0.07) * 2e-5);
        Assert.Equal(0f, scores[0, 2].item<float>());
        Assert.Equal(0L, pred[0].item<long>());
    }

    [Fact]
    public void GivenTheSameToy_WhenVotingWithTemperatureOne_ThenTheMajorityWins()
    {
        using var scope = NewDisposeScope();
        var (x, y) = WeightingToy();
        using var knn = new KnnClassifier(x, y, k: 3, temperature: 1.0);

        var scores = knn.Scores(tensor(new float[] { 1, 0 }).view(1, 2));

        // class 0: e¹ = 2.718; class 1: 2·e^0.9 = 4.919.
        Assert.Equal(Math.E, scores[0, 0].item<float>(), 1e-5);
        Assert.Equal(2 * Math.Exp(0.9), scores[0, 1].item<float>(), 1e-5);
        Assert.Equal(1L, knn.Predict(tensor(new float[] { 1, 0 }).view(1, 2))[0].item<long>());
    }

    [Fact]
    public void GivenTwoNeighboursOfDifferentClassesAtEqualSimilarity_WhenVoting_ThenTheLowerClassIndexWins()
    {
        using var scope = NewDisposeScope();
        // (0.8, ±0.6) are mirror images about the query (1, 0): identical similarity 0.8, identical votes.
        var x = tensor(new float[] { 0.8f, 0.6f, 0.8f, -0.6f, -1, 0 }).view(3, 2);
        var y = tensor(new long[] { 3, 1, 0 });
        using var knn = new KnnClassifier(x, y, k: 2, temperature: 0.07, numClasses: 4);
        var q = tensor(new float[] { 1, 0 }).view(1, 2);

        var scores = knn.Scores(q);

        Assert.Equal(scores[0, 1].item<float>(), scores[0, 3].item<float>());
        Assert.Equal(1L, knn.Predict(q)[0].item<long>());
    }

    [Fact]
    public void GivenATrueClassRankedSecond_WhenScoring_ThenTop1MissesAndTop5Hits()
    {
        using var scope = NewDisposeScope();
        var (x, y) = WeightingToy();
        using var knn = new KnnClassifier(x, y, k: 3, temperature: 0.07);
        var q = tensor(new float[] { 1, 0 }).view(1, 2);

        var (top1, top5) = knn.Accuracy(q, tensor(new long[] { 1 }));

        Assert.Equal(0.0, top1);
        Assert.Equal(1.0, top5);
    }

    [Fact]
    public void GivenFewerThanFiveClasses_WhenScoring_ThenTop5IsNull()
    {
        using var scope = NewDisposeScope();
        var x = tensor(new float[] { 1, 0, 0, 1, -1, 0 }).view(3, 2);
        var y = tensor(new long[] { 0, 1, 2 });
        using var knn = new KnnClassifier(x, y, k: 1);

        var (top1, top5) = knn.Accuracy(x, y);

        Assert.Equal(1.0, top1);
        Assert.Null(top5);
    }

    [Fact]
    public void GivenTinyChunks_WhenScoring_ThenResultsEqualTheUnchunkedOnes()
    {
        using var scope = NewDisposeScope();
        var centres = SyntheticData.Centres(6, 16, 1.0, seed: 8);
        var (trainX, trainY) = SyntheticData.Blobs(6, 50, 16, 1.0, seed: 9, centres);
        var (testX, testY) = SyntheticData.Blobs(6, 20, 16, 1.0, seed: 10, centres);
        using var whole = new KnnClassifier(trainX, trainY, k: 20, maxChunkElements: 1L << 30);
        using var chunked = new KnnClassifier(trainX, trainY, k: 20, maxChunkElements: 7 * 300);   // 7 query rows per chunk

        Assert.Equal(7, chunked.ChunkRows);
        Assert.True(whole.Predict(testX).eq(chunked.Predict(testX)).all().item<bool>());
        Assert.True(whole.Scores(testX).allclose(chunked.Scores(testX)));
        Assert.Equal(whole.Accuracy(testX, testY), chunked.Accuracy(testX, testY));
    }

    [Fact]
    public void GivenSeparableBlobs_WhenEvaluated_ThenTheResultRecordIsFilledIn()
    {
        using var scope = NewDisposeScope();
        var centres = SyntheticData.Centres(5, 32, 3.0, seed: 1);
        var (trainX, trainY) = SyntheticData.Blobs(5, 100, 32, 3.0, seed: 2, centres);
        var (testX, testY) = SyntheticData.Blobs(5, 40, 32, 3.0, seed: 3, centres);

        var r = KnnClassifier.Evaluate(trainX, trainY, testX, testY, "blobs", Pooling.Mean);

        Assert.True(r.Top1 >= 0.99, $"top-1 {r.Top1}");
        Assert.Equal(1.0, r.Top5);
        Assert.Equal(20, r.K);
        Assert.Equal(0.07, r.Temperature);
        Assert.Equal(500, r.TrainSize);
        Assert.Equal(200, r.TestSize);
        Assert.Equal(32, r.FeatureDim);
        Assert.Equal(5, r.NumClasses);
    }

    [Fact]
    public void GivenKLargerThanTheTrainingSet_WhenConstructing_ThenTheErrorNamesK()
    {
        using var scope = NewDisposeScope();
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new KnnClassifier(ones(3, 2), tensor(new long[] { 0, 1, 0 }), k: 20));
        Assert.Equal("k", e.ParamName);
    }
}
