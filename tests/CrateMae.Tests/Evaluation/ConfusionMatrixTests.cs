using CrateMae.Evaluation;
using static TorchSharp.torch;

namespace CrateMae.Tests.Evaluation;

[Collection(EvaluationTestCollection.Name)]
public sealed class ConfusionMatrixTests
{
    [Fact]
    public void GivenLabelsAndPredictions_WhenCounted_ThenCellsAndPerClassAccuracyAreRight()
    {
        using var scope = NewDisposeScope();
        var labels = tensor(new long[] { 0, 0, 1, 1, 2, 2, 2 });
        var preds = tensor(new int[] { 0, 1, 1, 1, 2, 0, 2 });

        var m = ConfusionMatrix.FromPredictions(labels, preds, numClasses: 4);

        long[,] expected =
        {
            { 1, 1, 0, 0 },
            { 0, 2, 0, 0 },
            { 1, 0, 2, 0 },
            { 0, 0, 0, 0 },
        };
        Assert.Equal(expected, m.Counts);
        Assert.Equal(7, m.Total);
        Assert.Equal(5.0 / 7, m.Accuracy, 12);
        var per = m.PerClassAccuracy();
        Assert.Equal(0.5, per[0]);
        Assert.Equal(1.0, per[1]);
        Assert.Equal(2.0 / 3, per[2], 12);
        Assert.True(double.IsNaN(per[3]));              // no samples of class 3
        Assert.Equal(3, m.Support(2));
    }

    [Fact]
    public void GivenAnOutOfRangePrediction_WhenCounted_ThenTheErrorNamesIt()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => ConfusionMatrix.FromPredictions([0L, 1L], [0L, 5L], 3));
        Assert.Equal("predicted", e.ParamName);
    }
}
