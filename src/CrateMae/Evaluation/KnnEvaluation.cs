using System.Diagnostics;
using static TorchSharp.torch;

namespace CrateMae.Evaluation;

/// <summary>
/// The k-NN evaluation with its representation chosen on a validation split. A stratified part of the training
/// features (<see cref="LinearProbe.ValidationSplit"/>, the probe's rule) is held out and scored by the k-NN over the
/// rest, once per whitening candidate (0 = the features as they are, K = <see cref="PcaWhitening"/> with K
/// components). The best candidate on validation (ties → the fewest components) is then scored on the test set with
/// the whole training set as the reference. Every whitening is fitted on the reference features of its own scoring
/// only, so neither held-out nor test images shape it, and no labels are used to fit it.
/// </summary>
public static class KnnEvaluation
{
    /// <param name="whitenCandidates">Whitening sizes to choose from (0 = none); one value = no choice to make.</param>
    /// <param name="validationFraction">Fraction held out (0 = no validation split; then exactly one candidate).</param>
    /// <param name="seed">Seed of the split.</param>
    public static KnnResult Evaluate(Tensor trainFeatures, Tensor trainLabels, Tensor testFeatures, Tensor testLabels,
        string model, Pooling? pooling, int k, double temperature, IReadOnlyList<int> whitenCandidates,
        double validationFraction, int seed)
    {
        ArgumentNullException.ThrowIfNull(trainFeatures);
        ArgumentNullException.ThrowIfNull(trainLabels);
        CheckChoice(whitenCandidates, validationFraction);

        var clock = Stopwatch.StartNew();
        int numClasses = (int)Math.Max(LinearProbe.MaxLabel(trainLabels, nameof(trainLabels)), LinearProbe.MaxLabel(testLabels, nameof(testLabels))) + 1;
        List<WhitenPoint>? curve = null;
        long? valSize = null;
        int chosen = whitenCandidates[0];
        if (validationFraction > 0)
        {
            using var scope = NewDisposeScope();
            var y = trainLabels.to(ScalarType.Int64).cpu().data<long>().ToArray();
            var (trainIdx, valIdx) = LinearProbe.ValidationSplit(y, numClasses, validationFraction, seed, stratified: true, "--val-fraction");
            if (k > trainIdx.Length) throw new ArgumentException($"-k {k}: larger than the {trainIdx.Length} training images left after the validation split");
            var rest = tensor(trainIdx.Select(i => (long)i).ToArray(), device: trainFeatures.device);
            var held = tensor(valIdx.Select(i => (long)i).ToArray(), device: trainFeatures.device);
            var (refX, refY) = (trainFeatures.index_select(0, rest), trainLabels.index_select(0, rest.to(trainLabels.device)));
            var (valX, valY) = (trainFeatures.index_select(0, held), trainLabels.index_select(0, held.to(trainLabels.device)));
            curve = whitenCandidates.Select(c => new WhitenPoint(c, Score(refX, refY, valX, valY, k, temperature, numClasses, c).Top1)).ToList();
            chosen = curve.OrderByDescending(p => p.ValTop1).ThenBy(p => p.Components).First().Components;
            valSize = valIdx.Length;
        }

        var (top1, top5, dim) = Score(trainFeatures, trainLabels, testFeatures, testLabels, k, temperature, numClasses, chosen);
        clock.Stop();
        return new KnnResult
        {
            Model = model,
            Pooling = pooling,
            FeatureDim = dim,
            NumClasses = numClasses,
            TrainSize = trainFeatures.shape[0],
            TestSize = testFeatures.shape[0],
            Top1 = top1,
            Top5 = top5,
            K = k,
            Temperature = temperature,
            Whiten = chosen == 0 ? null : chosen,
            ValSize = valSize,
            ValTop1 = curve?.First(p => p.Components == chosen).ValTop1,
            WhitenCurve = curve is { Count: > 1 } ? curve : null,
            Seconds = clock.Elapsed.TotalSeconds,
        };
    }

    /// <summary>
    /// Checks the candidates and the split before any work (the CLI calls it before extracting features): distinct
    /// counts ≥ 0, a fraction in [0, 1), and a split whenever there is more than one candidate to choose from. The
    /// messages start with the option they are about, as the CLI prints them.
    /// </summary>
    public static void CheckChoice(IReadOnlyList<int> whitenCandidates, double validationFraction)
    {
        ArgumentNullException.ThrowIfNull(whitenCandidates);
        if (whitenCandidates.Count == 0 || whitenCandidates.Any(c => c < 0) || whitenCandidates.Distinct().Count() != whitenCandidates.Count)
            throw new ArgumentException($"--whiten {string.Join(",", whitenCandidates)}: expected distinct component counts ≥ 0 (0 = no whitening)");
        if (!(validationFraction >= 0 && validationFraction < 1))
            throw new ArgumentException($"--val-fraction {validationFraction}: expected a number in [0, 1)");
        if (validationFraction == 0 && whitenCandidates.Count > 1)
            throw new ArgumentException($"--whiten {string.Join(",", whitenCandidates)}: choosing among several values needs a validation split (--val-fraction > 0)");
    }

    /// <summary>k-NN accuracy of <paramref name="queryX"/> against <paramref name="refX"/>, whitened first when <paramref name="components"/> &gt; 0.</summary>
    private static (double Top1, double? Top5, int Dim) Score(Tensor refX, Tensor refY, Tensor queryX, Tensor queryY,
        int k, double temperature, int numClasses, int components)
    {
        if (components == 0)
        {
            using var plain = new KnnClassifier(refX, refY, k, temperature, numClasses);
            var (t1, t5) = plain.Accuracy(queryX, queryY);
            return (t1, t5, (int)plain.FeatureDim);
        }
        using var whitening = PcaWhitening.Fit(refX, components);
        using var reference = whitening.Apply(refX);    // [n, K]
        using var query = whitening.Apply(queryX);      // [m, K]
        using var knn = new KnnClassifier(reference, refY, k, temperature, numClasses);
        var (top1, top5) = knn.Accuracy(query, queryY);
        return (top1, top5, components);
    }
}
