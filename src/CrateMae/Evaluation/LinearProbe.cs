using System.Diagnostics;
using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace CrateMae.Evaluation;

/// <summary>
/// A fitted linear probe: multinomial logistic regression on standardised features (per-dimension mean and std of the
/// training features), full-batch, L2-regularised, minimised to a gradient-norm tolerance with <see cref="Lbfgs"/> on
/// the exact loss in float64 on the CPU.
/// </summary>
/// <remarks>
/// <see cref="Fit"/> chooses λ from <see cref="LinearProbeOptions.RegularisationGrid"/>: it carves a seeded validation
/// split from the training set, fits every grid value on the rest (strongest λ first, each warm-started from the
/// previous solution), keeps the λ with the best validation top-1 (ties go to the larger λ), then refits on the whole
/// training set with that λ. Standardisation statistics always come from the samples the weights are fitted on.
/// </remarks>
public sealed class LinearProbe
{
    private readonly double[] _mean;     // [D]
    private readonly double[] _invStd;   // [D]
    private readonly double[] _theta;    // [W (D×C), b (C)] in standardised coordinates

    private LinearProbe(double[] mean, double[] invStd, double[] theta, int numClasses, double regularisation,
        LbfgsResult solver, IReadOnlyList<RegularisationPoint> curve, int trainSize, int validationSize)
    {
        _mean = mean;
        _invStd = invStd;
        _theta = theta;
        NumClasses = numClasses;
        Regularisation = regularisation;
        Solver = solver;
        ValidationCurve = curve;
        TrainSize = trainSize;
        ValidationSize = validationSize;
    }

    /// <summary>Feature dimension D.</summary>
    public int FeatureDim => _mean.Length;

    /// <summary>Number of classes C.</summary>
    public int NumClasses { get; }

    /// <summary>The L2 strength λ of the final fit.</summary>
    public double Regularisation { get; }

    /// <summary>Solver outcome of the final fit (iterations, gradient norm, convergence).</summary>
    public LbfgsResult Solver { get; }

    /// <summary>Validation top-1 per grid value, in grid order (empty for <see cref="FitFixed"/>).</summary>
    public IReadOnlyList<RegularisationPoint> ValidationCurve { get; }

    /// <summary>Samples the final fit used (the whole training set).</summary>
    public int TrainSize { get; }

    /// <summary>Samples held out to choose λ (0 for <see cref="FitFixed"/> or a one-value grid).</summary>
    public int ValidationSize { get; }

    /// <summary>Chooses λ on a validation split, then refits on all of <paramref name="features"/>.</summary>
    /// <param name="features">[n, D] floating point (any device; copied to CPU float64).</param>
    /// <param name="labels">[n] integer class indices in [0, C).</param>
    /// <param name="progress">Called after each fit of the λ search (and after the final refit, with no validation top-1).</param>
    public static LinearProbe Fit(Tensor features, Tensor labels, LinearProbeOptions? options = null, Action<ProbeFit>? progress = null)
    {
        options = (options ?? new LinearProbeOptions()).Validate();
        var (x, y) = ReadData(features, labels, nameof(features), nameof(labels));
        int c = ResolveClasses(options.NumClasses, y, nameof(labels));
        var grid = options.RegularisationGrid;
        if (grid.Count == 1)
        {
            using var all = new Problem(x, y, c);
            return all.Fit(grid[0], options.Solver, warmStart: null);
        }

        var (trainIdx, valIdx) = ValidationSplit(y, c, options.ValidationFraction, options.Seed, options.Stratified);
        var xVal = Rows(x, valIdx);
        var yVal = valIdx.Select(i => y[i]).ToArray();

        // Strongest λ first, each fit warm-started from the previous solution (same standardisation, same data).
        var order = Enumerable.Range(0, grid.Count).OrderByDescending(i => grid[i]).ToArray();
        var points = new RegularisationPoint[grid.Count];
        var thetas = new double[grid.Count][];
        using (var part = new Problem(Rows(x, trainIdx), trainIdx.Select(i => y[i]).ToArray(), c))
        {
            double[]? warm = null;
            foreach (int i in order)
            {
                var clock = Stopwatch.StartNew();
                var probe = part.Fit(grid[i], options.Solver, warm);
                warm = thetas[i] = probe._theta;
                points[i] = new RegularisationPoint(grid[i], probe.Accuracy(xVal, yVal), probe.Solver.Iterations, probe.Solver.Converged);
                progress?.Invoke(new ProbeFit(points[i], clock.Elapsed.TotalSeconds, Final: false));
            }
        }
        // Best validation accuracy; ties → larger λ (the simpler model).
        int best = order.OrderByDescending(i => points[i].ValTop1).ThenByDescending(i => grid[i]).First();
        var finalClock = Stopwatch.StartNew();
        using var full = new Problem(x, y, c);
        var final = full.Fit(grid[best], options.Solver, thetas[best]);
        progress?.Invoke(new ProbeFit(new RegularisationPoint(grid[best], double.NaN, final.Solver.Iterations, final.Solver.Converged),
            finalClock.Elapsed.TotalSeconds, Final: true));
        return new LinearProbe(final._mean, final._invStd, final._theta, c, grid[best], final.Solver, points, y.Length, valIdx.Length);
    }

    /// <summary>Fits with a fixed λ on all of <paramref name="features"/> (no validation split).</summary>
    public static LinearProbe FitFixed(Tensor features, Tensor labels, double regularisation, LinearProbeOptions? options = null)
    {
        options = (options ?? new LinearProbeOptions()).Validate();
        if (!(regularisation > 0) || !double.IsFinite(regularisation))
            throw new ArgumentException($"regularisation must be a finite number > 0, got {regularisation}", nameof(regularisation));
        var (x, y) = ReadData(features, labels, nameof(features), nameof(labels));
        int c = ResolveClasses(options.NumClasses, y, nameof(labels));
        using var problem = new Problem(x, y, c);
        return problem.Fit(regularisation, options.Solver, warmStart: null);
    }

    /// <summary>
    /// The one-stop evaluation: fits on the training features (λ chosen by validation), scores the test features and
    /// returns the JSON-ready record. C defaults to 1 + the largest label in either set.
    /// </summary>
    public static LinearProbeResult Evaluate(Tensor trainFeatures, Tensor trainLabels, Tensor testFeatures, Tensor testLabels,
        string model, Pooling? pooling, LinearProbeOptions? options = null, Action<ProbeFit>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        var sw = Stopwatch.StartNew();
        options ??= new LinearProbeOptions();
        if (options.NumClasses is null)
        {
            long maxLabel = Math.Max(MaxLabel(trainLabels, nameof(trainLabels)), MaxLabel(testLabels, nameof(testLabels)));
            options = options with { NumClasses = (int)Math.Max(2, maxLabel + 1) };
        }
        var probe = Fit(trainFeatures, trainLabels, options, progress);
        double top1 = probe.Accuracy(testFeatures, testLabels);
        sw.Stop();
        return new LinearProbeResult
        {
            Model = model,
            Pooling = pooling,
            FeatureDim = probe.FeatureDim,
            NumClasses = probe.NumClasses,
            TrainSize = probe.TrainSize,
            TestSize = testLabels.shape[0],
            Top1 = top1,
            Seconds = sw.Elapsed.TotalSeconds,
            ValSize = probe.ValidationSize,
            ChosenReg = probe.Regularisation,
            ValCurve = probe.ValidationCurve,
            Iterations = probe.Solver.Iterations,
            Converged = probe.Solver.Converged,
            GradNorm = probe.Solver.GradientNorm,
        };
    }

    /// <summary>
    /// The probe as one affine map on the raw features, logits = x Wᵀ + b, ready for a <c>Linear(D → C)</c>: with the
    /// standardisation x̂ = (x − μ) ⊙ s (s = 1/σ) and the fitted W_s [D, C], b_s [C], W = (diag(s) W_s)ᵀ and
    /// b = b_s − μᵀ diag(s) W_s. Returns weight [C, D] and bias [C], float32 on the CPU, owned by the caller.
    /// </summary>
    public (Tensor Weight, Tensor Bias) ToAffine()
    {
        int d = FeatureDim, c = NumClasses;
        using var scope = NewDisposeScope();
        var theta = tensor(_theta, dtype: float64);
        var scaled = theta[..(d * c)].view(d, c).mul(tensor(_invStd, dtype: float64).unsqueeze(1));   // diag(s) W_s  [D, C]
        var bias = theta[(d * c)..].sub(tensor(_mean, dtype: float64).unsqueeze(0).mm(scaled).squeeze(0));   // [C]
        return (scaled.t().contiguous().to(float32).MoveToOuterDisposeScope(), bias.to(float32).MoveToOuterDisposeScope());
    }

    /// <summary>Class scores [n, C] float32 on the CPU (logits of the standardised features).</summary>
    public Tensor Logits(Tensor features)
    {
        var x = ReadFeatures(features, nameof(features));
        var logits = LogitsCore(x);
        using var t = tensor(logits, dtype: float64);
        return t.view(x.Rows, NumClasses).to(float32);
    }

    /// <summary>Predicted classes [n] int64 (arg-max of the logits; ties → lowest class index).</summary>
    public Tensor Predict(Tensor features)
    {
        var x = ReadFeatures(features, nameof(features));
        return tensor(PredictCore(x), dtype: int64);
    }

    /// <summary>Top-1 accuracy (fraction in [0, 1]) on <paramref name="features"/>/<paramref name="labels"/>.</summary>
    public double Accuracy(Tensor features, Tensor labels)
    {
        var (x, y) = ReadData(features, labels, nameof(features), nameof(labels));
        foreach (var v in y)
            if (v < 0 || v >= NumClasses)
                throw new ArgumentException($"labels: class {v} is outside [0, {NumClasses}) of the fitted probe", nameof(labels));
        return Accuracy(x, y);
    }

    // ---------------------------------------------------------------------------------------------------------
    // Core (row-major managed matrices: x is double[n][], standardisation and scoring in managed code; the loss and
    // gradient in libtorch float64)

    /// <summary>
    /// One training set, standardised once (mean and population std per dimension; constant dimensions are only
    /// centred), with its loss ready for fits at any λ.
    /// </summary>
    /// <remarks>
    /// The solver works in whitened coordinates W = T W′: with the standardised features' covariance Σ = V diag(e) Vᵀ,
    /// T = V diag(e^−½) (directions whose variance is below 1e-9 of the largest keep scale 1), so the data term sees
    /// the features X T, whose covariance is the identity. The penalty stays the original (λ/2)‖W‖² = (λ/2)‖T W′‖²,
    /// so the minimiser is exactly the same; only the path to it changes. Correlated features (neighbouring pixels,
    /// the channels of an encoder) make the plain problem ill-conditioned, and L-BFGS then needs many more iterations.
    /// The gradient tolerance applies to the gradient in these coordinates.
    /// </remarks>
    private sealed class Problem : IDisposable
    {
        /// <summary>Eigenvalues below this fraction of the largest count as zero variance (scale 1).</summary>
        private const double VarianceFloor = 1e-9;

        private readonly double[] _mean;
        private readonly double[] _invStd;
        private readonly SoftmaxObjective _objective;   // over the whitened features X T, penalty TᵀT
        private readonly Tensor _whiten;                // T [D, D]: W = T W′
        private readonly Tensor _unwhiten;              // T⁻¹ [D, D]
        private readonly int _classes;
        private readonly int _count;

        public Problem(Matrix x, long[] y, int classes)
        {
            int n = x.Rows, d = x.Cols;
            _mean = new double[d];
            _invStd = new double[d];
            for (int i = 0; i < n; i++)
            {
                var row = x.Row(i);
                for (int j = 0; j < d; j++) _mean[j] += row[j];
            }
            for (int j = 0; j < d; j++) _mean[j] /= n;
            var sq = new double[d];
            for (int i = 0; i < n; i++)
            {
                var row = x.Row(i);
                for (int j = 0; j < d; j++)
                {
                    double z = row[j] - _mean[j];
                    sq[j] += z * z;
                }
            }
            for (int j = 0; j < d; j++)
            {
                double std = Math.Sqrt(sq[j] / n);
                _invStd[j] = std > 1e-12 ? 1.0 / std : 1.0;
            }
            using var scope = NewDisposeScope();
            var xs = x.ToTensor().sub_(tensor(_mean, dtype: float64)).mul_(tensor(_invStd, dtype: float64));   // [n, D]
            var (e, v) = linalg.eigh(xs.t().mm(xs).div_(n));                                                    // Σ = V diag(e) Vᵀ
            var scale = where(e > VarianceFloor * e.max().item<double>(), e.clamp_min(1e-300).rsqrt(), ones_like(e)).unsqueeze(0);   // e^−½
            _whiten = v.mul(scale).DetachFromDisposeScope();                                                    // V diag(e^−½)
            _unwhiten = v.div(scale).t().contiguous().DetachFromDisposeScope();                                 // diag(e^½) Vᵀ
            _objective = new SoftmaxObjective(xs.mm(_whiten), tensor(y, dtype: int64), classes, lambda: 0,
                penalty: _whiten.t().mm(_whiten));
            _classes = classes;
            _count = n;
        }

        public LinearProbe Fit(double lambda, LbfgsOptions solver, double[]? warmStart)
        {
            _objective.Lambda = lambda;
            var theta0 = warmStart is { } w && w.Length == _objective.ParameterCount
                ? Transform(w, _unwhiten)                                                   // W′ = T⁻¹ W
                : new double[_objective.ParameterCount];
            var result = new Lbfgs(solver).Minimize(_objective.Evaluate, theta0);
            return new LinearProbe(_mean, _invStd, Transform(result.X, _whiten), _classes, lambda, result, [], _count, 0);
        }

        /// <summary>θ = [W (D×C), b] → [M·W, b].</summary>
        private double[] Transform(double[] theta, Tensor m)
        {
            using var scope = NewDisposeScope();
            int dc = _mean.Length * _classes;
            var mapped = m.mm(tensor(theta[..dc], dtype: float64).view(_mean.Length, _classes)).contiguous();
            var result = new double[theta.Length];
            MemoryMarshal.Cast<byte, double>(mapped.bytes).CopyTo(result);
            theta.AsSpan(dc).CopyTo(result.AsSpan(dc));
            return result;
        }

        public void Dispose()
        {
            _objective.Dispose();
            _whiten.Dispose();
            _unwhiten.Dispose();
        }
    }

    private double[] LogitsCore(Matrix x)
    {
        if (x.Cols != FeatureDim)
            throw new ArgumentException($"features have {x.Cols} dimensions; the probe was fitted on {FeatureDim}");
        int n = x.Rows, d = FeatureDim, c = NumClasses;
        using var scope = NewDisposeScope();
        var xs = x.ToTensor().sub_(tensor(_mean, dtype: float64)).mul_(tensor(_invStd, dtype: float64));
        var p = tensor(_theta, dtype: float64);
        var logits = xs.mm(p[..(d * c)].view(d, c)).add_(p[(d * c)..]).contiguous();
        return MemoryMarshal.Cast<byte, double>(logits.bytes).ToArray();
    }

    private long[] PredictCore(Matrix x)
    {
        var logits = LogitsCore(x);
        int c = NumClasses;
        var pred = new long[x.Rows];
        for (int i = 0; i < pred.Length; i++)
        {
            int best = 0;
            for (int k = 1; k < c; k++)
                if (logits[i * c + k] > logits[i * c + best]) best = k;
            pred[i] = best;
        }
        return pred;
    }

    private double Accuracy(Matrix x, long[] y)
    {
        if (y.Length == 0) throw new ArgumentException("cannot score an empty set");
        var pred = PredictCore(x);
        int correct = 0;
        for (int i = 0; i < y.Length; i++) if (pred[i] == y[i]) correct++;
        return (double)correct / y.Length;
    }

    // ---------------------------------------------------------------------------------------------------------
    // Data plumbing

    /// <summary>Dense row-major float64 matrix.</summary>
    private sealed class Matrix(double[] data, int rows, int cols)
    {
        public double[] Data { get; } = data;
        public int Rows { get; } = rows;
        public int Cols { get; } = cols;
        public ReadOnlySpan<double> Row(int i) => Data.AsSpan(i * Cols, Cols);
        public Tensor ToTensor() => tensor(Data, dtype: float64).view(Rows, Cols);
    }

    private static Matrix Rows(Matrix x, int[] idx)
    {
        var data = new double[idx.Length * x.Cols];
        for (int r = 0; r < idx.Length; r++) x.Row(idx[r]).CopyTo(data.AsSpan(r * x.Cols, x.Cols));
        return new Matrix(data, idx.Length, x.Cols);
    }

    private static Matrix ReadFeatures(Tensor features, string name)
    {
        ArgumentNullException.ThrowIfNull(features, name);
        if (features.dim() != 2 || features.shape[0] == 0 || features.shape[1] == 0)
            throw new ArgumentException($"{name} must be a non-empty [n, D] matrix, got [{string.Join(", ", features.shape)}]", name);
        if (!features.is_floating_point())
            throw new ArgumentException($"{name} must be floating point, got {features.dtype}", name);
        using var scope = NewDisposeScope();
        var t = features.detach().to(float64, CPU).contiguous();
        var data = MemoryMarshal.Cast<byte, double>(t.bytes).ToArray();
        foreach (var v in data)
            if (!double.IsFinite(v)) throw new ArgumentException($"{name} contains NaN or infinite values", name);
        return new Matrix(data, (int)features.shape[0], (int)features.shape[1]);
    }

    private static (Matrix X, long[] Y) ReadData(Tensor features, Tensor labels, string featuresName, string labelsName)
    {
        var x = ReadFeatures(features, featuresName);
        ArgumentNullException.ThrowIfNull(labels, labelsName);
        if (labels.dim() != 1 || labels.shape[0] != x.Rows)
            throw new ArgumentException($"{labelsName} must be [n] with n = {x.Rows} (the rows of {featuresName}), got [{string.Join(", ", labels.shape)}]", labelsName);
        if (labels.is_floating_point() || labels.dtype == ScalarType.Bool)
            throw new ArgumentException($"{labelsName} must hold integer class indices, got {labels.dtype}", labelsName);
        using var scope = NewDisposeScope();
        var y = labels.detach().to(int64, CPU).contiguous();
        var arr = MemoryMarshal.Cast<byte, long>(y.bytes).ToArray();
        foreach (var v in arr)
            if (v < 0) throw new ArgumentException($"{labelsName}: class indices must be ≥ 0, got {v}", labelsName);
        return (x, arr);
    }

    /// <summary>The largest label of an integer label tensor [n] (n ≥ 1), with a clear error for anything else.</summary>
    internal static long MaxLabel(Tensor labels, string name)
    {
        ArgumentNullException.ThrowIfNull(labels, name);
        if (labels.dim() != 1 || labels.shape[0] == 0)
            throw new ArgumentException($"{name} must be a non-empty [n] tensor, got [{string.Join(", ", labels.shape)}]", name);
        if (labels.is_floating_point() || labels.dtype == ScalarType.Bool)
            throw new ArgumentException($"{name} must hold integer class indices, got {labels.dtype}", name);
        using var max = labels.max();
        return max.to(int64).item<long>();
    }

    private static int ResolveClasses(int? numClasses, long[] y, string labelsName)
    {
        long max = y.Max();
        if (numClasses is { } c)
        {
            if (max >= c) throw new ArgumentException($"{labelsName}: class {max} is outside [0, {c}) given by num_classes", labelsName);
            return c;
        }
        return (int)Math.Max(2, max + 1);
    }

    /// <summary>Deterministic (seeded) train/validation index split; both parts sorted ascending.</summary>
    /// <param name="fractionName">How the error for an empty part names the fraction (an option or a CLI flag).</param>
    internal static (int[] Train, int[] Val) ValidationSplit(long[] y, int numClasses, double fraction, int seed, bool stratified,
        string fractionName = "validation_fraction")
    {
        var rng = new Random(seed);
        var val = new List<int>();
        if (stratified)
        {
            var byClass = Enumerable.Range(0, numClasses).Select(_ => new List<int>()).ToArray();
            for (int i = 0; i < y.Length; i++) byClass[y[i]].Add(i);
            foreach (var members in byClass)
            {
                var arr = members.ToArray();
                rng.Shuffle(arr);
                int take = (int)Math.Round(fraction * arr.Length, MidpointRounding.AwayFromZero);
                take = Math.Min(take, Math.Max(0, arr.Length - 1));   // keep at least one sample of the class for training
                val.AddRange(arr.Take(take));
            }
        }
        else
        {
            var arr = Enumerable.Range(0, y.Length).ToArray();
            rng.Shuffle(arr);
            val.AddRange(arr.Take((int)Math.Round(fraction * arr.Length, MidpointRounding.AwayFromZero)));
        }
        var valSet = new HashSet<int>(val);
        var train = Enumerable.Range(0, y.Length).Where(i => !valSet.Contains(i)).ToArray();
        if (val.Count == 0 || train.Length == 0)
            throw new ArgumentException($"{fractionName} {fraction} of {y.Length} training samples leaves an empty " +
                                        (val.Count == 0 ? "validation" : "training") + " split; use more data or a different fraction");
        var valArr = val.ToArray();
        Array.Sort(valArr);
        return (train, valArr);
    }
}
