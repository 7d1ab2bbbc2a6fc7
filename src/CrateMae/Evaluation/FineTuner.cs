using CrateMae.Kernels;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using CrateMae.Data;
using CrateMae.IO;
using CrateMae.Models;
using CrateMae.Reporting;
using CrateMae.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace CrateMae.Evaluation;

/// <summary>
/// End-to-end fine-tuning of a (pretrained) autoencoder's encoder with a linear head on the patch-token mean
/// (<see cref="FineTuneClassifier"/>). The head starts as the frozen encoder's linear probe (LP-FT, <see cref="HeadStart"/>)
/// or at random; then label-smoothed cross-entropy (or soft-target cross-entropy after optional mixup),
/// AdamW over MAE's layer-wise lr-decay groups, warm-up + cosine lr set every iteration, each step in its own dispose
/// scope. After every epoch the whole test split is scored, and the held-out validation images when there are some
/// (<see cref="FineTuneOptions.ValFraction"/>, <see cref="HoldOut"/>); the classifier is checkpointed atomically (last,
/// and best: by validation top-1 when there is a validation split, else by test top-1). At the end it writes the
/// confusion matrix (PNG), the per-class accuracy and <c>finetune.json</c>.
/// </summary>
/// <remarks>
/// Output folder: <c>finetune.json</c> (<see cref="FineTuneResult"/>), <c>metrics.jsonl</c> (one line per epoch),
/// <c>classifier.safetensors</c> / <c>classifier-best.safetensors</c> (<see cref="ClassifierCheckpoint"/>),
/// <c>confusion.png</c>.
/// </remarks>
public sealed class FineTuner
{
    public const string ResultFile = "finetune.json";
    public const string MetricsFile = "metrics.jsonl";
    public const string LastCheckpointFile = "classifier.safetensors";
    public const string BestCheckpointFile = "classifier-best.safetensors";
    public const string ConfusionFile = "confusion.png";

    private readonly FineTuneOptions _options;
    private readonly IBatchSource _train;
    private readonly IBatchSource _test;
    private readonly IBatchSource? _probeTrain;
    private readonly IBatchSource? _validation;
    private readonly IReadOnlyList<string> _classNames;
    private readonly Device _device;
    private readonly ScalarType? _precision;

    /// <param name="options">Recipe.</param>
    /// <param name="train">Augmented, shuffled training batches (drop-last when mixup is on).</param>
    /// <param name="test">Test batches (no augmentation).</param>
    /// <param name="classNames">One name per class; the count is the number of classes (≥ 2).</param>
    /// <param name="outputDir">Folder for the result files (created).</param>
    /// <param name="probeTrain">The training images without augmentation, for the linear probe the head starts from;
    /// required when <see cref="FineTuneOptions.Head"/> is <see cref="HeadStart.Probe"/>.</param>
    /// <param name="validation">The held-out validation images without augmentation (<see cref="HoldOut"/>), none of them
    /// in <paramref name="train"/> or <paramref name="probeTrain"/>; required exactly when
    /// <see cref="FineTuneOptions.ValFraction"/> is above 0.</param>
    public FineTuner(FineTuneOptions options, IBatchSource train, IBatchSource test, IReadOnlyList<string> classNames, string outputDir,
        IBatchSource? probeTrain = null, IBatchSource? validation = null)
    {
        _options = (options ?? throw new ArgumentNullException(nameof(options))).Validate();
        _train = train ?? throw new ArgumentNullException(nameof(train));
        _test = test ?? throw new ArgumentNullException(nameof(test));
        _probeTrain = probeTrain;
        if (_options.Head == HeadStart.Probe && probeTrain is null)
            throw new ArgumentException("a head that starts as the linear probe needs the un-augmented training images (probeTrain)", nameof(probeTrain));
        if ((_options.ValFraction > 0) != (validation is not null))
            throw new ArgumentException(validation is null
                ? $"--val-fraction {_options.ValFraction} needs the held-out validation images (validation)"
                : "validation images were given, but --val-fraction is 0", nameof(validation));
        _validation = validation;
        _classNames = classNames ?? throw new ArgumentNullException(nameof(classNames));
        if (classNames.Count < 2)
            throw new ArgumentException($"fine-tuning needs a labelled dataset with at least 2 classes; this one has {classNames.Count}");
        if (train.StepsPerEpoch < 1)
            throw new ArgumentException($"the training data has fewer images than one batch ({train.BatchSize}); lower --batch-size");
        ArgumentException.ThrowIfNullOrWhiteSpace(outputDir);
        OutputDir = Path.GetFullPath(outputDir);
        _device = DeviceChoice.Parse(options.Device);
        _precision = MatmulPrecision.Parse(options.Precision);
    }

    public string OutputDir { get; }
    public int NumClasses => _classNames.Count;

    public event Action<TrainProgress>? Progress;
    public event Action<string>? Message;

    /// <summary>
    /// Splits the first <paramref name="count"/> images of <paramref name="dataset"/> (those a <c>--limit</c> keeps) into
    /// the images to train on and a validation part of <paramref name="fraction"/> of them, stratified by class and drawn
    /// with <paramref name="seed"/> (the linear probe's split, <see cref="LinearProbe"/>): each class gives
    /// round(fraction × its count) images and keeps at least one for training. Both parts keep the dataset's order.
    /// </summary>
    /// <exception cref="ArgumentException">When the dataset is unlabelled, <paramref name="fraction"/> is outside (0, 1) or a part would be empty.</exception>
    public static (ImageSubset Train, ImageSubset Validation) HoldOut(IImageDataset dataset, int count, double fraction, int seed)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, dataset.Count);
        if (!(fraction > 0 && fraction < 1)) throw new ArgumentException($"--val-fraction: expected a number in (0, 1) to hold out images, got {fraction}");
        if (dataset.NumClasses < 1) throw new ArgumentException($"{dataset.Name} has no class labels to stratify a validation split by");
        var labels = new long[count];
        for (int i = 0; i < count; i++) labels[i] = dataset.GetLabel(i);
        var (train, validation) = LinearProbe.ValidationSplit(labels, dataset.NumClasses, fraction, seed, stratified: true, "--val-fraction");
        return (new ImageSubset(dataset, train, $"{dataset.Name} (training part)"), new ImageSubset(dataset, validation, $"{dataset.Name} (validation part)"));
    }

    /// <summary>
    /// Fine-tunes <paramref name="pretrained"/> (trained in place; it stays the caller's to dispose) with a new head and
    /// returns the result, also written to <c>finetune.json</c>.
    /// </summary>
    /// <param name="modelName">Name recorded as <c>model</c>.</param>
    /// <param name="source">Checkpoint recorded as <c>source</c> (null for a random init).</param>
    /// <param name="data">Data description recorded as <c>data</c>.</param>
    /// <param name="normalization">Normalisation stored in the classifier checkpoint.</param>
    public FineTuneResult Run(MaskedAutoencoder pretrained, string modelName, string? source = null, string? data = null,
        NormalizationStats? normalization = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(pretrained);
        Directory.CreateDirectory(OutputDir);
        var clock = Stopwatch.StartNew();
        random.manual_seed(_options.Seed);
        pretrained.to(_device);
        var model = new FineTuneClassifier(pretrained, NumClasses, _options.HeadInitStd, new Generator((ulong)_options.Seed + 17));
        model.to(_device);
        try
        {
            double? probeReg = _options.Head == HeadStart.Probe ? StartFromProbe(model, cancellationToken) : null;
            return Train(model, pretrained, modelName, source, data, normalization, probeReg, clock, cancellationToken);
        }
        finally
        {
            model.Head.Dispose();    // the encoder belongs to the caller
        }
    }

    /// <summary>
    /// LP-FT's first stage: pools the frozen encoder's features of the un-augmented training images (the same path and
    /// precision as the classifier's forward), fits the linear probe (λ chosen on a validation split) and loads it into
    /// the head as one affine map. Returns the chosen λ.
    /// </summary>
    private double StartFromProbe(FineTuneClassifier model, CancellationToken cancellationToken)
    {
        var probeClock = Stopwatch.StartNew();
        using var scope = NewDisposeScope();
        Tensor features, labels;
        using (MatmulPrecision.Use(_precision))
            (features, labels) = FeatureExtractor.Extract(model.Encoder, Owned(_probeTrain!.Epoch(0, 0, cancellationToken)), Pooling.Mean, _device);
        cancellationToken.ThrowIfCancellationRequested();
        Message?.Invoke($"head: linear probe on {features.shape[0]:N0} × {features.shape[1]} frozen features ({probeClock.Elapsed.TotalSeconds:F0} s to extract)");
        var probe = LinearProbe.Fit(features, labels, new LinearProbeOptions { NumClasses = NumClasses, Seed = _options.Seed },
            fit => Message?.Invoke(fit.Final
                ? $"head: refit λ = {fit.Point.Reg:G2} on all images, {fit.Point.Iterations} iterations ({fit.Seconds:F1} s)"
                : $"head: λ = {fit.Point.Reg:G2} validation top-1 {fit.Point.ValTop1:P2} ({fit.Seconds:F1} s)"));
        var (weight, bias) = probe.ToAffine();   // [C, D], [C]
        using (no_grad())
        {
            model.Head.weight!.copy_(weight.to(_device));
            model.Head.bias!.copy_(bias.to(_device));
        }
        return probe.Regularisation;
    }

    /// <summary>The batches of a source, each disposed once the consumer moves past it (a loader's batches are the caller's).</summary>
    private static IEnumerable<(Tensor Images, Tensor Labels)> Owned(IEnumerable<(Tensor Images, Tensor Labels)> batches)
    {
        foreach (var (images, labels) in batches)
        {
            using (images)
            using (labels)
                yield return (images, labels);
        }
    }

    private FineTuneResult Train(FineTuneClassifier model, MaskedAutoencoder pretrained, string modelName, string? source, string? data,
        NormalizationStats? normalization, double? probeReg, Stopwatch clock, CancellationToken cancellationToken)
    {
        var (_, startTop1, _, _) = Evaluate(model);
        var (_, startValTop1, valLabels, _) = _validation is null ? default : Score(model, _validation, "validation");
        Message?.Invoke($"start: test top-1 {startTop1:P2}{(_validation is null ? "" : $", validation top-1 {startValTop1:P2}")} " +
                        $"({(probeReg is null ? "random head" : "linear-probe head")})");
        var groups = LayerDecay.ParamGroups(model, _options.WeightDecay, _options.LayerDecay);
        using var optimizer = LayerDecay.CreateAdamW(groups, _options.AbsoluteLr);
        var parameters = groups.SelectMany(g => g.Parameters).ToArray();
        var mixup = _options.MixupAlpha > 0 ? new Mixup(_options.MixupAlpha, NumClasses, _options.LabelSmoothing, _options.Seed) : null;
        var schedule = new LrSchedule(_options.AbsoluteLr, _options.WarmupEpochs, _options.Epochs, _options.MinLr);

        int stepsPerEpoch = _train.StepsPerEpoch;
        long totalSteps = (long)stepsPerEpoch * _options.Epochs;
        if (_options.MaxSteps is { } max) totalSteps = Math.Min(totalSteps, max);
        var metricsPath = Path.Combine(OutputDir, MetricsFile);
        if (File.Exists(metricsPath)) File.Delete(metricsPath);

        var history = new List<FineTuneEpoch>();
        double bestTop1 = double.NegativeInfinity, bestValTop1 = double.NegativeInfinity;
        int bestEpoch = 0, bestValEpoch = 0;
        long globalStep = 0, trainSize = 0;
        bool interrupted = false;
        long[]? lastLabels = null, lastPredictions = null;
        string? lastCheckpoint = null, bestCheckpoint = null;
        double lastLr = 0;
        var windowClock = Stopwatch.StartNew();
        var trainClock = Stopwatch.StartNew();
        long windowImages = 0;

        for (int epoch = 0; epoch < _options.Epochs && !interrupted; epoch++)
        {
            var epochClock = Stopwatch.StartNew();
            double lossSum = 0;
            long lossCount = 0, epochImages = 0;
            int step = 0;
            model.train();
            foreach (var (images, labels) in _train.Epoch(epoch, 0, CancellationToken.None))
            {
                using (images)
                using (labels)
                using (var scope = NewDisposeScope())
                {
                    double lr = schedule.At(epoch + (double)step / stepsPerEpoch);
                    LayerDecay.SetLearningRate(optimizer, groups, lr);
                    lastLr = lr;
                    var x = images.to(_device);
                    var y = labels.to(_device);
                    optimizer.zero_grad();
                    Tensor loss;
                    using (MatmulPrecision.Use(_precision))
                    {
                        if (mixup is not null)
                        {
                            var (mixed, targets, _) = mixup.Apply(x, y);
                            loss = FineTuneLoss.SoftTargetCrossEntropy(model.forward(mixed), targets);
                        }
                        else
                        {
                            loss = FineTuneLoss.CrossEntropy(model.forward(x), y, _options.LabelSmoothing);
                        }
                        loss.backward();
                        AutogradHandoff.ReleaseAll();
                    }
                    double value = loss.item<float>();
                    if (!double.IsFinite(value))
                        throw new TrainingDivergedException(
                            $"fine-tuning loss became {value} at epoch {epoch + 1}, step {step}; lower --blr or add --clip-grad");
                    if (_options.ClipGrad is { } clip) nn.utils.clip_grad_norm_(parameters, clip);
                    optimizer.step();

                    lossSum += value * images.shape[0];
                    lossCount += images.shape[0];
                    epochImages += images.shape[0];
                    windowImages += images.shape[0];
                    step++;
                    globalStep++;
                    var elapsed = clock.Elapsed;
                    double perStep = trainClock.Elapsed.TotalSeconds / globalStep;   // the probe fit is not a step
                    Progress?.Invoke(new TrainProgress(epoch + 1, _options.Epochs, step, stepsPerEpoch, globalStep, totalSteps, value, lr,
                        windowImages / Math.Max(1e-9, windowClock.Elapsed.TotalSeconds), elapsed,
                        TimeSpan.FromSeconds(perStep * (totalSteps - globalStep))));
                    if (windowClock.Elapsed.TotalSeconds > 30)
                    {
                        windowClock.Restart();
                        windowImages = 0;
                    }
                }
                if (cancellationToken.IsCancellationRequested || globalStep >= totalSteps)
                {
                    interrupted = cancellationToken.IsCancellationRequested || step < stepsPerEpoch || epoch + 1 < _options.Epochs;
                    break;
                }
            }
            if (epoch == 0) trainSize = epochImages;
            if (lossCount == 0) break;

            var (testLoss, top1, testLabels, testPredictions) = Evaluate(model);
            lastLabels = testLabels;
            lastPredictions = testPredictions;
            double? valLoss = null, valTop1 = null;
            if (_validation is not null) (valLoss, valTop1, _, _) = Score(model, _validation, "validation");
            var record = new FineTuneEpoch(epoch + 1, lossSum / lossCount, testLoss, top1, lastLr, Math.Round(epochClock.Elapsed.TotalSeconds, 2),
                valLoss, valTop1);
            history.Add(record);
            AppendMetrics(metricsPath, record);
            var extra = new Dictionary<string, string>
            {
                ["epoch"] = (epoch + 1).ToString(CultureInfo.InvariantCulture),
                ["test_top1"] = top1.ToString("R", CultureInfo.InvariantCulture),
                ["source"] = source ?? "",
            };
            if (valTop1 is { } v) extra["val_top1"] = v.ToString("R", CultureInfo.InvariantCulture);
            if (_options.SaveCheckpoints)
            {
                lastCheckpoint = Path.Combine(OutputDir, LastCheckpointFile);
                ClassifierCheckpoint.Save(lastCheckpoint, model, _classNames, normalization, extra);
            }
            bool better = valTop1 is { } val ? val > bestValTop1 : top1 > bestTop1;   // the validation split, when there is one, chooses
            if (top1 > bestTop1) (bestTop1, bestEpoch) = (top1, epoch + 1);
            if (valTop1 > bestValTop1) (bestValTop1, bestValEpoch) = (valTop1.Value, epoch + 1);
            if (better && _options.SaveCheckpoints)
            {
                bestCheckpoint = Path.Combine(OutputDir, BestCheckpointFile);
                AtomicFile.Copy(lastCheckpoint!, bestCheckpoint);
            }
            Message?.Invoke($"epoch {epoch + 1}/{_options.Epochs}: train loss {record.TrainLoss:F4}, test loss {testLoss:F4}, " +
                            $"test top-1 {top1:P2}{(valTop1 is null ? "" : $", validation loss {valLoss:F4}, validation top-1 {valTop1:P2}")} ({record.Seconds:F0} s)");
        }
        if (history.Count == 0)
            throw new OperationCanceledException("fine-tuning stopped before the first step finished; nothing to report");

        var confusion = ConfusionMatrix.FromPredictions(lastLabels!, lastPredictions!, NumClasses, _classNames);
        var confusionPng = Path.Combine(OutputDir, ConfusionFile);
        ConfusionMatrixPlot.Save(confusion, confusionPng,
            $"{modelName} fine-tuned: test accuracy {confusion.Accuracy.ToString("P2", CultureInfo.InvariantCulture)}, n = {confusion.Total}");
        var perClass = Enumerable.Range(0, NumClasses).Select(i =>
        {
            long support = confusion.Support(i), correct = confusion[i, i];
            return new ClassAccuracy(i, _classNames[i], support, correct, support > 0 ? (double)correct / support : null);
        }).ToArray();
        var last = history[^1];
        var result = new FineTuneResult
        {
            Model = modelName,
            HeadStart = _options.Head == HeadStart.Probe ? "probe" : "random",
            ProbeReg = probeReg,
            StartTop1 = startTop1,
            Pooling = Pooling.Mean,
            FeatureDim = pretrained.Config.EmbedDim,
            NumClasses = NumClasses,
            TrainSize = trainSize,
            TestSize = lastLabels!.Length,
            Top1 = last.TestTop1,
            BestTop1 = bestTop1,
            BestEpoch = bestEpoch,
            ValFraction = _options.ValFraction,
            ValImages = valLabels?.Length ?? 0,
            StartValTop1 = _validation is null ? null : startValTop1,
            BestValTop1 = _validation is null ? null : bestValTop1,
            BestValEpoch = _validation is null ? null : bestValEpoch,
            TestLoss = last.TestLoss,
            Epochs = history.Count,
            EpochsPlanned = _options.Epochs,
            Interrupted = interrupted,
            BatchSize = _options.BatchSize,
            Blr = _options.Blr,
            Lr = _options.AbsoluteLr,
            WarmupEpochs = _options.WarmupEpochs,
            LayerDecay = _options.LayerDecay,
            WeightDecay = _options.WeightDecay,
            LabelSmoothing = _options.LabelSmoothing,
            MixupAlpha = _options.MixupAlpha,
            MinCropScale = _options.MinCropScale,
            FlipProbability = _options.FlipProbability,
            Precision = _precision is null ? "fp32" : "bf16",
            PerClass = perClass,
            History = history,
            Checkpoint = lastCheckpoint,
            BestCheckpoint = bestCheckpoint,
            ConfusionPng = confusionPng,
            Source = source,
            Data = data,
            Seconds = Math.Round(clock.Elapsed.TotalSeconds, 2),
        };
        result.Save(Path.Combine(OutputDir, ResultFile));
        return result;
    }

    /// <summary>Scores the whole test split: mean cross-entropy (no smoothing), top-1, labels and predictions.</summary>
    public (double Loss, double Top1, long[] Labels, long[] Predictions) Evaluate(FineTuneClassifier model) => Score(model, _test, "test");

    /// <summary>Scores every image of <paramref name="source"/> (named <paramref name="what"/> in errors) as <see cref="Evaluate"/> scores the test split.</summary>
    private (double Loss, double Top1, long[] Labels, long[] Predictions) Score(FineTuneClassifier model, IBatchSource source, string what)
    {
        ArgumentNullException.ThrowIfNull(model);
        bool wasTraining = model.training;
        model.eval();
        var labels = new List<long>();
        var predictions = new List<long>();
        double lossSum = 0;
        try
        {
            using var _ = no_grad();
            using var prec = MatmulPrecision.Use(_precision);
            foreach (var (images, y) in source.Epoch(0, 0, CancellationToken.None))
            {
                using (images)
                using (y)
                using (var scope = NewDisposeScope())
                {
                    var logits = model.forward(images.to(_device));
                    var target = y.to(int64).to(_device);
                    lossSum += nn.functional.cross_entropy(logits, target, reduction: nn.Reduction.Sum).item<float>();
                    var pred = logits.argmax(1).cpu();
                    labels.AddRange(target.cpu().data<long>().ToArray());
                    predictions.AddRange(pred.data<long>().ToArray());
                }
            }
        }
        finally
        {
            model.train(wasTraining);
        }
        if (labels.Count == 0) throw new ArgumentException($"the {what} split yielded no images");
        long correct = 0;
        for (int i = 0; i < labels.Count; i++) if (labels[i] == predictions[i]) correct++;
        return (lossSum / labels.Count, (double)correct / labels.Count, labels.ToArray(), predictions.ToArray());
    }

    private static void AppendMetrics(string path, FineTuneEpoch record) =>
        File.AppendAllText(path, JsonSerializer.Serialize(new
        {
            type = "epoch", epoch = record.Epoch, train_loss = record.TrainLoss, test_loss = record.TestLoss,
            test_top1 = record.TestTop1, lr = record.Lr, seconds = record.Seconds, val_loss = record.ValLoss, val_top1 = record.ValTop1,
        }) + "\n");
}
