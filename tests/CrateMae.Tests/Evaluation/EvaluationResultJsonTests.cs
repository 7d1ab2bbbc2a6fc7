using System.Text.Json;
using CrateMae.Evaluation;

namespace CrateMae.Tests.Evaluation;

[Collection(EvaluationTestCollection.Name)]
public sealed class EvaluationResultJsonTests
{
    private static LinearProbeResult Probe() => new()
    {
        Model = "crate-fmnist",
        Pooling = Pooling.Cls,
        FeatureDim = 192,
        NumClasses = 10,
        TrainSize = 60000,
        TestSize = 10000,
        Top1 = 0.8125,
        Seconds = 12.5,
        ValSize = 6000,
        ChosenReg = 1e-4,
        ValCurve = [new RegularisationPoint(1e-5, 0.8, 30, true), new RegularisationPoint(1e-4, 0.81, 25, true)],
        Iterations = 27,
        Converged = true,
        GradNorm = 5e-7,
    };

    private static KnnResult Knn(double? top5) => new()
    {
        Model = "pixels",
        Pooling = null,
        FeatureDim = 784,
        NumClasses = 10,
        TrainSize = 60000,
        TestSize = 10000,
        Top1 = 0.85,
        Top5 = top5,
        K = 20,
        Temperature = 0.07,
        Seconds = 3.0,
    };

    private static string[] Names(JsonElement e) => e.EnumerateObject().Select(p => p.Name).ToArray();

    [Fact]
    public void GivenALinearProbeResult_WhenSerialised_ThenThePropertyNamesAndOrderAreTheDocumentedSchema()
    {
        using var doc = JsonDocument.Parse(Probe().ToJson());
        var root = doc.RootElement;

        Assert.Equal(
            ["kind", "schema_version", "model", "pooling", "layer", "feature_dim", "num_classes", "train_size", "test_size", "top1",
             "val_size", "chosen_reg", "val_curve", "iterations", "converged", "grad_norm", "source", "data", "seconds"],
            Names(root));
        Assert.Equal("linear_probe", root.GetProperty("kind").GetString());
        Assert.Equal(1, root.GetProperty("schema_version").GetInt32());
        Assert.Equal("cls", root.GetProperty("pooling").GetString());
        Assert.Equal(1e-4, root.GetProperty("chosen_reg").GetDouble());
        var point = root.GetProperty("val_curve")[1];
        Assert.Equal(["reg", "val_top1", "iterations", "converged"], Names(point));
        Assert.Equal(0.81, point.GetProperty("val_top1").GetDouble());
    }

    [Fact]
    public void GivenAKnnResultWithFewerThanFiveClasses_WhenSerialised_ThenTop5AndPoolingAreWrittenAsNull()
    {
        using var doc = JsonDocument.Parse(Knn(null).ToJson());
        var root = doc.RootElement;

        Assert.Equal(
            ["kind", "schema_version", "model", "pooling", "layer", "feature_dim", "num_classes", "train_size", "test_size", "top1",
             "top5", "k", "temperature", "source", "data", "seconds"],
            Names(root));
        Assert.Equal("knn", root.GetProperty("kind").GetString());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("top5").ValueKind);
        Assert.Equal(JsonValueKind.Null, root.GetProperty("pooling").ValueKind);
        Assert.Equal(0.07, root.GetProperty("temperature").GetDouble());
    }

    [Fact]
    public void GivenSerialisedResults_WhenParsedBack_ThenTheSameRecordsComeOut()
    {
        var probe = Probe();
        var knn = Knn(0.97) with { Pooling = Pooling.Mean };

        var probeBack = Assert.IsType<LinearProbeResult>(EvaluationResult.FromJson(probe.ToJson()));
        var knnBack = Assert.IsType<KnnResult>(EvaluationResult.FromJson(knn.ToJson()));

        Assert.Equal(probe.ToJson(), probeBack.ToJson());
        Assert.Equal(probe.ValCurve, probeBack.ValCurve);
        Assert.Equal(knn, knnBack);
        Assert.Equal(Pooling.Mean, knnBack.Pooling);
    }

    [Fact]
    public void GivenJsonWithAnUnknownKind_WhenParsed_ThenTheErrorSaysWhichKindsExist()
    {
        var e = Assert.Throws<ArgumentException>(() => EvaluationResult.FromJson("""{"kind": "svm", "model": "x"}"""));
        Assert.Contains("linear_probe", e.Message);
    }

    [Fact]
    public void GivenAResult_WhenSaved_ThenTheFileHoldsTheJsonAndNoTemporaryFileRemains()
    {
        var dir = Path.Combine(Path.GetTempPath(), "cratemae-json-" + Guid.NewGuid().ToString("N"));
        try
        {
            var path = Path.Combine(dir, "nested", "knn.json");
            Knn(0.9).Save(path);

            Assert.Equal(Knn(0.9).ToJson() + "\n", File.ReadAllText(path));
            Assert.Equal([path], Directory.GetFiles(Path.GetDirectoryName(path)!));
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }
}
