using CrateMae.Evaluation;
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
