using CrateMae.Data;
using CrateMae.Evaluation;
using CrateMae.Training;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace CrateMae.Tests.Evaluation;

[Collection(EvaluationTestCollection.Name)]
public sealed class FineTuneTests(ITestOutputHelper output)
{
    [Fact]
    public void GivenATinyRandomInitModelAndSeparableImages_WhenFineTuning_ThenTheLossFalls()
    {
        using var scope = NewDisposeScope();
        manual_seed(0);
        var model = new FineTuneClassifier(TinyModels.Create(seed: 1), numClasses: 2, generator: new Generator(2));
        var (images, labels) = TinyModels.HalvesImages(32, seed: 3);
        var groups = LayerDecay.ParamGroups(model, weightDecay: 0.05, layerDecay: 0.75);
        using var optimizer = LayerDecay.CreateAdamW(groups, baseLr: 3e-3);
        model.train();

        var losses = new List<double>();
        for (int step = 0; step < 40; step++)
        {
            using var stepScope = NewDisposeScope();
            optimizer.zero_grad();
            var loss = FineTuneLoss.CrossEntropy(model.forward(images), labels, smoothing: 0.1);
            loss.backward();
            optimizer.step();
            losses.Add(loss.item<float>());
        }

        output.WriteLine(string.Join(", ", losses.Select(l => l.ToString("F4"))));
        Assert.Equal(Math.Log(2), losses[0], 0.01);                          // head init std 2e-5: logits ≈ 0
        Assert.True(losses.TakeLast(5).Average() < 0.6 * losses[0], $"loss {losses[0]:F4} → {losses[^1]:F4}");
        using var _ = no_grad();
        model.eval();
        var accuracy = model.forward(images).argmax(1).eq(labels).to(float32).mean().item<float>();
        Assert.Equal(1f, accuracy);
    }

    /// <summary>Fixed images and labels in batches of <paramref name="batchSize"/>, the same every epoch (each batch a fresh copy).</summary>
    private sealed class TensorSource(Tensor images, Tensor labels, int batchSize) : IBatchSource
    {
        public int StepsPerEpoch => (int)images.shape[0] / batchSize;
        public int BatchSize => batchSize;

        public IEnumerable<(Tensor Images, Tensor Labels)> Epoch(int epoch, int startStep, CancellationToken cancellationToken)
        {
            for (int step = startStep; step < StepsPerEpoch; step++)
            {
                var rows = TensorIndex.Slice(step * batchSize, (step + 1) * batchSize);
                yield return (images[rows].clone(), labels[rows].clone());
            }
        }
    }

    /// <summary>300 labelled 1×2×2 images of four classes of 30, 60, 90 and 120 images, interleaved.</summary>
    private static InMemoryImageDataset UnevenClasses()
    {
        var labels = Enumerable.Range(0, 300).Select(i => (byte)((i % 10) switch { 0 => 0, < 3 => 1, < 6 => 2, _ => 3 })).ToArray();
        var pixels = Enumerable.Range(0, 300 * 4).Select(i => (byte)(i / 4 % 251)).ToArray();
        return new InMemoryImageDataset("uneven", 1, 2, 2, pixels, labels, ["a", "b", "c", "d"], NormalizationStats.Mnist);
    }

    [Fact]
    public void GivenASeed_WhenHoldingOutAValidationFraction_ThenThePartsAreDisjointStratifiedAndSeeded()
    {
        var dataset = UnevenClasses();
        const int count = 280;                                             // what --limit 280 keeps

        var (train, val) = FineTuner.HoldOut(dataset, count, 0.25, seed: 3);

        Assert.Empty(train.Indices.Intersect(val.Indices));
        Assert.Equal(Enumerable.Range(0, count), train.Indices.Concat(val.Indices).Order());
        Assert.Equal(train.Indices.Order(), train.Indices);                // the dataset's order
        for (int c = 0; c < 4; c++)
        {
            int members = Enumerable.Range(0, count).Count(i => dataset.GetLabel(i) == c);
            int held = val.Indices.Count(i => dataset.GetLabel(i) == c);
            output.WriteLine($"class {c}: {held} of {members} held out");
            Assert.InRange(held, 0.25 * members - 1, 0.25 * members + 1);
        }
        for (int i = 0; i < val.Count; i++)
        {
            Assert.Equal(dataset.GetLabel(val.Indices[i]), val.GetLabel(i));
            Assert.Equal(dataset.GetPixels(val.Indices[i]).ToArray(), val.ReadImage(i).Pixels);
        }
        Assert.Equal(val.Indices, FineTuner.HoldOut(dataset, count, 0.25, seed: 3).Validation.Indices);
        Assert.NotEqual(val.Indices, FineTuner.HoldOut(dataset, count, 0.25, seed: 4).Validation.Indices);
        Assert.Contains("--val-fraction", Assert.Throws<ArgumentException>(() => FineTuner.HoldOut(dataset, count, 1.0, seed: 3)).Message);
        Assert.Contains("--val-fraction", Assert.Throws<ArgumentException>(() => FineTuner.HoldOut(dataset, 8, 0.01, seed: 3)).Message);
    }

    [Fact]
    public void GivenAValidationSplitThatDisagreesWithTheTestSplit_WhenFineTuning_ThenTheBestClassifierIsTheBestValidationEpoch()
    {
        using var scope = NewDisposeScope();
        manual_seed(0);
        var dir = Path.Combine(Path.GetTempPath(), "cratemae-ftval-" + Guid.NewGuid().ToString("N"));
        var (trainImages, trainLabels) = TinyModels.HalvesImages(32, seed: 3, noise: 1.0);
        var (valImages, valLabels) = TinyModels.HalvesImages(16, seed: 4, noise: 1.0);
        // The test split is the validation images with the other label: its top-1 is exactly 1 − the validation top-1,
        // so its best epoch is the validation's worst.
        var test = new TensorSource(valImages, 1 - valLabels, 8);
        var options = new FineTuneOptions
        {
            Epochs = 4, BatchSize = 8, Lr = 2e-3, WarmupEpochs = 0, Head = HeadStart.Random, ValFraction = 0.25, Seed = 1,
        };
        var tuner = new FineTuner(options, new TensorSource(trainImages, trainLabels, 8), test, ["left", "right"], dir,
            validation: new TensorSource(valImages, valLabels, 8));
        using var encoder = TinyModels.Create(seed: 2);
        try
        {
            var result = tuner.Run(encoder, "tiny");

            foreach (var e in result.History) output.WriteLine($"{e.Epoch}: val {e.ValTop1:P1} (loss {e.ValLoss:F4}), test {e.TestTop1:P1}");
            var val = result.History.Select(e => e.ValTop1!.Value).ToArray();
            int bestVal = Array.IndexOf(val, val.Max()) + 1;
            Assert.Equal(bestVal, result.BestValEpoch);
            Assert.Equal(val.Max(), result.BestValTop1);
            Assert.Equal(16, result.ValImages);
            Assert.Equal(0.25, result.ValFraction);
            Assert.NotNull(result.StartValTop1);
            Assert.All(result.History, e => Assert.Equal(1 - e.ValTop1!.Value, e.TestTop1, 12));
            Assert.NotEqual(result.BestEpoch, result.BestValEpoch);      // the two splits prefer different epochs
            using var best = ClassifierCheckpoint.Load(result.BestCheckpoint!);
            Assert.Equal(bestVal.ToString(System.Globalization.CultureInfo.InvariantCulture), best.Metadata["epoch"]);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }

        Assert.Contains("--val-fraction", Assert.Throws<ArgumentException>(() =>
            new FineTuner(options, test, test, ["left", "right"], dir)).Message);
        Assert.Contains("--val-fraction", Assert.Throws<ArgumentException>(() =>
            new FineTuner(options with { ValFraction = 0 }, test, test, ["left", "right"], dir, validation: test)).Message);
    }

    [Fact]
    public void GivenATwoBlockModel_WhenGroupingForLayerDecay_ThenGroupsAndScalesAreExactlyMaes()
    {
        using var scope = NewDisposeScope();
        var model = new FineTuneClassifier(TinyModels.Create(depth: 2), numClasses: 3);

        var groups = LayerDecay.ParamGroups(model, weightDecay: 0.05, layerDecay: 0.65);

        // Python: [0.65 ** (3 - i) for i in range(4)] == [0.274625, 0.42250000000000004, 0.65, 1.0]
        (string Name, int Id, double Scale, double Wd)[] expected =
        [
            ("layer_0_no_decay", 0, 0.274625, 0), ("layer_0_decay", 0, 0.274625, 0.05),
            ("layer_1_no_decay", 1, 0.42250000000000004, 0), ("layer_1_decay", 1, 0.42250000000000004, 0.05),
            ("layer_2_no_decay", 2, 0.65, 0), ("layer_2_decay", 2, 0.65, 0.05),
            ("layer_3_no_decay", 3, 1.0, 0), ("layer_3_decay", 3, 1.0, 0.05),
        ];
        Assert.Equal(expected, groups.Select(g => (g.Name, g.LayerId, g.LrScale, g.WeightDecay)).ToArray());
        Assert.Equal(["cls_token", "patch_embed.proj.bias"], groups[0].ParameterNames);
        Assert.Equal(["patch_embed.proj.weight"], groups[1].ParameterNames);
        Assert.All(groups[2].ParameterNames.Concat(groups[3].ParameterNames), n => Assert.StartsWith("blocks.0.", n));
        Assert.All(groups[4].ParameterNames.Concat(groups[5].ParameterNames), n => Assert.StartsWith("blocks.1.", n));
        Assert.Equal(["norm.weight", "norm.bias", "head.bias"], groups[6].ParameterNames);
        Assert.Equal(["head.weight"], groups[7].ParameterNames);
        var all = groups.SelectMany(g => g.ParameterNames).ToArray();
        Assert.DoesNotContain(all, n => n.StartsWith("decoder", StringComparison.Ordinal) || n == "mask_token" || n == "pos_embed");
        Assert.All(groups.Where(g => g.WeightDecay > 0).SelectMany(g => g.Parameters), p => Assert.True(p.dim() > 1));
    }

    [Fact]
    public void GivenLayerDecayGroups_WhenAdamWStepsWithZeroGradients_ThenEachGroupDecaysByItsOwnLrAndWeightDecay()
    {
        using var scope = NewDisposeScope();
        var model = new FineTuneClassifier(TinyModels.Create(depth: 2), numClasses: 3);
        var groups = LayerDecay.ParamGroups(model, weightDecay: 0.5, layerDecay: 0.5);
        using var optimizer = LayerDecay.CreateAdamW(groups, baseLr: 0.1);
        var before = groups.Select(g => g.Parameters.Select(p => p.detach().clone()).ToArray()).ToArray();
        optimizer.zero_grad();
        var zero = groups.SelectMany(g => g.Parameters).Select(p => p.sum() * 0).Aggregate((a, b) => a + b);
        zero.backward();                                                   // gradients exist and are exactly 0

        optimizer.step();

        // AdamW with g = 0: p ← p·(1 − lr·wd), lr = 0.1 · 0.5^(3 − layer id).
        for (int i = 0; i < groups.Count; i++)
        {
            double factor = 1 - 0.1 * groups[i].LrScale * groups[i].WeightDecay;
            for (int j = 0; j < groups[i].Parameters.Count; j++)
                Assert.True(groups[i].Parameters[j].allclose(before[i][j] * factor, rtol: 1e-6, atol: 0),
                    $"{groups[i].Name} {groups[i].ParameterNames[j]}");
        }
        LayerDecay.SetLearningRate(optimizer, groups, 0.2);
        Assert.Equal(groups.Select(g => 0.2 * g.LrScale), optimizer.ParamGroups.Select(pg => pg.LearningRate));
    }

    [Fact]
    public void GivenTheHead_WhenConstructed_ThenItIsTruncNormalWithTheGivenStdAndZeroBias()
    {
        using var scope = NewDisposeScope();
        var model = new FineTuneClassifier(TinyModels.Create(), numClasses: 1000, headInitStd: 0.02, generator: new Generator(5));
        var w = model.Head.weight!;

        Assert.Equal([1000L, 16L], w.shape);
        Assert.Equal(0.02, w.std().item<float>(), 0.001);
        Assert.True(w.abs().max().item<float>() <= 2f);
        Assert.True(model.Head.bias!.eq(0).all().item<bool>());
        var again = new FineTuneClassifier(TinyModels.Create(), numClasses: 1000, headInitStd: 0.02, generator: new Generator(5));
        Assert.True(again.Head.weight!.eq(w).all().item<bool>());
    }

    [Fact]
    public void GivenLabelSmoothing_WhenComputingCrossEntropy_ThenItMatchesTorchsLabelSmoothingLoss()
    {
        using var scope = NewDisposeScope();
        var g = new Generator(6);
        var logits = randn(8, 5, generator: g);
        var labels = randint(0, 5, [8], generator: g).to(int64);

        var mine = FineTuneLoss.CrossEntropy(logits, labels, smoothing: 0.1);
        var torchs = nn.functional.cross_entropy(logits, labels, label_smoothing: 0.1);
        var soft = FineTuneLoss.SoftTargetCrossEntropy(logits, Mixup.MixTargets(labels, 5, lambda: 1.0, smoothing: 0.1));

        Assert.Equal(torchs.item<float>(), mine.item<float>(), 1e-5);
        Assert.Equal(torchs.item<float>(), soft.item<float>(), 1e-5);
    }

    [Fact]
    public void GivenASeed_WhenMixing_ThenLambdaIsReproducibleAndImagesAndTargetsMixWithTheFlippedBatch()
    {
        using var scope = NewDisposeScope();
        var (images, labels) = TinyModels.HalvesImages(6, seed: 7);
        var a = new Mixup(alpha: 0.8, numClasses: 2, labelSmoothing: 0.1, seed: 42);
        var b = new Mixup(alpha: 0.8, numClasses: 2, labelSmoothing: 0.1, seed: 42);

        var (mixed, targets, lam) = a.Apply(images, labels);

        Assert.Equal(lam, b.Apply(images, labels).Lambda);
        Assert.InRange(lam, 0, 1);
        Assert.True(mixed.allclose(images * lam + images.flip(0) * (1 - lam)));
        Assert.True(targets.sum(dim: 1).allclose(ones(6)));
        // Labels alternate 0,1,… and the flip of 6 items pairs 0↔5, so every row mixes class c with class 1 − c.
        double on = 1 - 0.1 + 0.05, off = 0.05;
        Assert.Equal(lam * on + (1 - lam) * off, targets[0, 0].item<float>(), 1e-6);
        var draws = Enumerable.Range(0, 2000).Select(_ => a.NextLambda()).ToArray();
        Assert.Equal(0.5, draws.Average(), 0.03);                          // Beta(α, α) has mean ½
        Assert.Equal(1.0, new Mixup(alpha: 0, numClasses: 2).NextLambda());
    }
}
