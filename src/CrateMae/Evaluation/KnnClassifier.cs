using System.Diagnostics;
using static TorchSharp.torch;

namespace CrateMae.Evaluation;

/// <summary>
/// Weighted cosine k-nearest-neighbour classifier as in DINO's <c>eval_knn.py</c>: train and query features are
/// L2-normalised, each query takes its k most similar training features (cosine similarity s), and neighbour j adds
/// exp(s_j / T) to the score of its class. Classes are ranked by score; equal scores rank the lower class index first.
/// The similarity matrix is computed in chunks of query rows, so memory stays at about
/// <see cref="MaxChunkElements"/> floats whatever the dataset sizes.
/// </summary>
/// <remarks>
/// Neighbours with exactly equal similarity at the k-th place are chosen by <c>torch.topk</c> (implementation
/// defined), exactly as in DINO. Computation runs in float32 on the device of the training features passed in.
/// </remarks>
public sealed class KnnClassifier : IDisposable
{
    private readonly Tensor _train;    // [n, D] float32, rows L2-normalised
    private readonly Tensor _labels;   // [n] int64
    private bool _disposed;

    /// <param name="trainFeatures">Reference features [n, D] (any float dtype; kept as normalised float32 on their device).</param>
    /// <param name="trainLabels">[n] integer class indices.</param>
    /// <param name="k">Neighbours (DINO default 20); must be ≤ n.</param>
    /// <param name="temperature">Vote temperature T (DINO default 0.07).</param>
    /// <param name="numClasses">C; null = 1 + the largest training label.</param>
    /// <param name="maxChunkElements">Upper bound on query-rows × n of one similarity chunk (default 2²⁴ ≈ 64 MB of float32).</param>
    public KnnClassifier(Tensor trainFeatures, Tensor trainLabels, int k = 20, double temperature = 0.07,
        int? numClasses = null, long maxChunkElements = 1L << 24)
    {
        ArgumentNullException.ThrowIfNull(trainFeatures);
        ArgumentNullException.ThrowIfNull(trainLabels);
        if (trainFeatures.dim() != 2 || trainFeatures.shape[0] == 0 || trainFeatures.shape[1] == 0)
            throw new ArgumentException($"trainFeatures must be a non-empty [n, D] matrix, got [{string.Join(", ", trainFeatures.shape)}]", nameof(trainFeatures));
        if (!trainFeatures.is_floating_point())
            throw new ArgumentException($"trainFeatures must be floating point, got {trainFeatures.dtype}", nameof(trainFeatures));
        long n = trainFeatures.shape[0];
        CheckLabels(trainLabels, n, nameof(trainLabels));
        if (k < 1 || k > n)
            throw new ArgumentOutOfRangeException(nameof(k), k, $"k must be in [1, {n}] (the number of training samples)");
        if (!(temperature > 0) || !double.IsFinite(temperature))
            throw new ArgumentOutOfRangeException(nameof(temperature), temperature, "temperature must be a positive number");
        if (maxChunkElements < 1)
            throw new ArgumentOutOfRangeException(nameof(maxChunkElements), maxChunkElements, "maxChunkElements must be ≥ 1");

        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            var labels = trainLabels.detach().to(int64, trainFeatures.device);
            long maxLabel = labels.max().item<long>();
            if (labels.min().item<long>() < 0)
                throw new ArgumentException("trainLabels: class indices must be ≥ 0", nameof(trainLabels));
            int c = numClasses ?? (int)(maxLabel + 1);
            if (numClasses is { } given && (given < 1 || maxLabel >= given))
                throw new ArgumentException($"numClasses {given} does not cover the largest training label {maxLabel}", nameof(numClasses));
            NumClasses = c;
            _train = nn.functional.normalize(trainFeatures.detach().to(float32), p: 2, dim: 1).contiguous().DetachFromDisposeScope();
            _labels = labels.contiguous().DetachFromDisposeScope();
        }
        K = k;
        Temperature = temperature;
        MaxChunkElements = maxChunkElements;
    }

    public int K { get; }
    public double Temperature { get; }
    public int NumClasses { get; }
    public long MaxChunkElements { get; }
    public long TrainSize => _train.shape[0];
    public long FeatureDim => _train.shape[1];

    /// <summary>Query rows per similarity chunk: ⌊MaxChunkElements / n⌋, at least 1.</summary>
    public long ChunkRows => Math.Max(1, MaxChunkElements / TrainSize);

    /// <summary>Weighted class votes [m, C] float32 on the CPU for query features [m, D].</summary>
    public Tensor Scores(Tensor features)
    {
        var parts = new List<Tensor>();
        try
        {
            ForEachChunk(features, (_, scores) => parts.Add(scores.cpu().DetachFromDisposeScope()));
            return cat(parts, 0);
        }
        finally
        {
            foreach (var p in parts) p.Dispose();
        }
    }

    /// <summary>Predicted classes [m] int64 on the CPU (highest score; ties → lower class index).</summary>
    public Tensor Predict(Tensor features)
    {
        var parts = new List<Tensor>();
        try
        {
            ForEachChunk(features, (_, scores) => parts.Add(Rank(scores)[.., 0].cpu().DetachFromDisposeScope()));
            return cat(parts, 0);
        }
        finally
        {
            foreach (var p in parts) p.Dispose();
        }
    }

    /// <summary>
    /// Top-1 and (when C ≥ 5) top-5 accuracy, as fractions in [0, 1]; top-5 counts a hit within the first min(5, k)
    /// ranked classes, as DINO does.
    /// </summary>
    public (double Top1, double? Top5) Accuracy(Tensor features, Tensor labels)
    {
        ArgumentNullException.ThrowIfNull(labels);
        CheckLabels(labels, features.shape[0], nameof(labels));
        long top1 = 0, top5 = 0;
        long m = features.shape[0];
        int five = Math.Min(5, Math.Min(K, NumClasses));
        ForEachChunk(features, (range, scores) =>
        {
            var y = labels[range].to(int64, scores.device).view(-1, 1);
            var correct = Rank(scores).narrow(1, 0, five).eq(y);           // [b, five]
            top1 += correct[.., 0].sum().item<long>();
            top5 += correct.any(1).sum().item<long>();
        });
        return ((double)top1 / m, NumClasses >= 5 ? (double)top5 / m : null);
    }

    /// <summary>
    /// One-stop evaluation: builds the classifier on the training features, scores the test features and returns the
    /// JSON-ready record. C defaults to 1 + the largest label of either set.
    /// </summary>
    public static KnnResult Evaluate(Tensor trainFeatures, Tensor trainLabels, Tensor testFeatures, Tensor testLabels,
        string model, Pooling? pooling, int k = 20, double temperature = 0.07, int? numClasses = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        var sw = Stopwatch.StartNew();
        numClasses ??= (int)Math.Max(LinearProbe.MaxLabel(trainLabels, nameof(trainLabels)), LinearProbe.MaxLabel(testLabels, nameof(testLabels))) + 1;
        using var knn = new KnnClassifier(trainFeatures, trainLabels, k, temperature, numClasses);
        var (top1, top5) = knn.Accuracy(testFeatures, testLabels);
        sw.Stop();
        return new KnnResult
        {
            Model = model,
            Pooling = pooling,
            FeatureDim = (int)knn.FeatureDim,
            NumClasses = knn.NumClasses,
            TrainSize = knn.TrainSize,
            TestSize = testFeatures.shape[0],
            Top1 = top1,
            Top5 = top5,
            K = k,
            Temperature = temperature,
            Seconds = sw.Elapsed.TotalSeconds,
        };
    }

    /// <summary>Class indices sorted by descending score, stable (so equal scores keep ascending class order): [b, C].</summary>
    private static Tensor Rank(Tensor scores) => scores.sort(1, descending: true, stable: true).Indices;

    /// <summary>Runs <paramref name="body"/>(row range, scores [b, C]) per chunk, each inside its own dispose scope.</summary>
    private void ForEachChunk(Tensor features, Action<TensorIndex, Tensor> body)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(features);
        if (features.dim() != 2 || features.shape[1] != FeatureDim)
            throw new ArgumentException($"features must be [m, {FeatureDim}], got [{string.Join(", ", features.shape)}]", nameof(features));
        if (!features.is_floating_point())
            throw new ArgumentException($"features must be floating point, got {features.dtype}", nameof(features));
        long m = features.shape[0];
        long rows = ChunkRows;
        using var _ = no_grad();
        for (long start = 0; start < m; start += rows)
        {
            using var scope = NewDisposeScope();
            long end = Math.Min(m, start + rows);
            var range = TensorIndex.Slice(start, end);
            var q = nn.functional.normalize(features[range].to(float32, _train.device), p: 2, dim: 1);
            var sim = q.mm(_train.t());                                          // [b, n]
            var (topSim, topIdx) = sim.topk(K, dim: 1, largest: true, sorted: true);   // [b, k]
            var neighbourLabels = _labels[topIdx];                               // [b, k]
            var weights = topSim.div(Temperature).exp_();                        // [b, k]
            var scores = zeros(end - start, NumClasses, dtype: float32, device: _train.device)
                .scatter_add_(1, neighbourLabels, weights);                      // [b, C]
            body(range, scores);
        }
    }

    private static void CheckLabels(Tensor labels, long n, string name)
    {
        ArgumentNullException.ThrowIfNull(labels, name);
        if (labels.dim() != 1 || labels.shape[0] != n)
            throw new ArgumentException($"{name} must be [n] with n = {n}, got [{string.Join(", ", labels.shape)}]", name);
        if (labels.is_floating_point() || labels.dtype == ScalarType.Bool)
            throw new ArgumentException($"{name} must hold integer class indices, got {labels.dtype}", name);
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _train.Dispose();
        _labels.Dispose();
    }
}
