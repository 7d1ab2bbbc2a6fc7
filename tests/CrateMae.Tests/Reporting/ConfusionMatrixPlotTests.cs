using CrateMae.Evaluation;
using CrateMae.Reporting;
using CrateMae.Tests.Evaluation;
using Xunit.Abstractions;

namespace CrateMae.Tests.Reporting;

[Collection(EvaluationTestCollection.Name)]
public sealed class ConfusionMatrixPlotTests(ITestOutputHelper output)
{
    [Fact]
    public void GivenNamedClasses_WhenRendered_ThenAPngIsWritten()
    {
        string[] names = ["T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];
        var rng = new Random(1);
        var y = new long[2000];
        var p = new long[2000];
        for (int i = 0; i < y.Length; i++)
        {
            y[i] = i % 10;
            p[i] = rng.NextDouble() < 0.8 ? y[i] : rng.Next(10);
        }
        var m = ConfusionMatrix.FromPredictions(y, p, 10, names);
        var dir = Path.Combine(Path.GetTempPath(), "cratemae-eval-tests");
        var path = Path.Combine(dir, "confusion.png");

        ConfusionMatrixPlot.Save(m, path);

        output.WriteLine(path);
        var bytes = File.ReadAllBytes(path);
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, bytes[..4]);
        Assert.True(bytes.Length > 10_000, $"{bytes.Length} bytes");
        Assert.Empty(Directory.GetFiles(dir, "*.tmp"));
    }
}
