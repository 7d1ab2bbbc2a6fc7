using static TorchSharp.torch;

namespace CrateMae.Evaluation;

/// <summary>
/// Batch mixup as in timm's <c>Mixup</c> (mode "batch", mixup only): λ ~ Beta(α, α), images x·λ + flip(x)·(1 − λ)
/// where flip reverses the batch order, and targets λ·y + (1 − λ)·flip(y) over label-smoothed one-hot vectors
/// (off value ε/C, on value 1 − ε + ε/C). Deterministic: λ comes from a seeded <see cref="Random"/>.
/// </summary>
public sealed class Mixup
{
    private readonly Random _rng;

    /// <param name="alpha">Beta concentration α (MAE fine-tuning: 0.8); 0 disables mixing (λ = 1).</param>
    /// <param name="numClasses">C.</param>
    /// <param name="labelSmoothing">ε in [0, 1) folded into the targets (MAE: 0.1).</param>
    /// <param name="seed">Seed of the λ draws.</param>
    public Mixup(double alpha, int numClasses, double labelSmoothing = 0.1, int seed = 0)
    {
        if (!(alpha >= 0) || !double.IsFinite(alpha)) throw new ArgumentOutOfRangeException(nameof(alpha), alpha, "mixup alpha must be a finite number ≥ 0");
        if (numClasses < 2) throw new ArgumentOutOfRangeException(nameof(numClasses), numClasses, "numClasses must be ≥ 2");
        if (!(labelSmoothing >= 0 && labelSmoothing < 1))
            throw new ArgumentOutOfRangeException(nameof(labelSmoothing), labelSmoothing, "label smoothing must be in [0, 1)");
        Alpha = alpha;
        NumClasses = numClasses;
        LabelSmoothing = labelSmoothing;
        _rng = new Random(seed);
    }

    public double Alpha { get; }
    public int NumClasses { get; }
    public double LabelSmoothing { get; }

    /// <summary>Draws the next λ (1 when α = 0).</summary>
    public double NextLambda() => Alpha == 0 ? 1.0 : SampleBeta(_rng, Alpha, Alpha);

    /// <summary>
    /// Mixes a batch: images [B, …] (float) and labels [B] → (mixed images, soft targets [B, C] float32, λ).
    /// B must be even, as timm requires. The inputs are not modified.
    /// </summary>
    public (Tensor Images, Tensor Targets, double Lambda) Apply(Tensor images, Tensor labels)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(labels);
        if (images.dim() < 1 || labels.dim() != 1 || labels.shape[0] != images.shape[0])
            throw new ArgumentException($"labels [{string.Join(", ", labels.shape)}] must be [B] for images [{string.Join(", ", images.shape)}]");
        if (images.shape[0] % 2 != 0)
            throw new ArgumentException($"mixup needs an even batch size, got {images.shape[0]}", nameof(images));
        double lam = NextLambda();
        using var scope = NewDisposeScope();
        var mixed = images * lam + images.flip(0) * (1 - lam);
        var targets = MixTargets(labels, NumClasses, lam, LabelSmoothing);
        return (mixed.MoveToOuterDisposeScope(), targets.MoveToOuterDisposeScope(), lam);
    }

    /// <summary>timm's <c>mixup_target</c>: λ·onehot_ε(y) + (1 − λ)·onehot_ε(flip(y)), float32 on the labels' device.</summary>
    public static Tensor MixTargets(Tensor labels, int numClasses, double lambda, double smoothing)
    {
        using var scope = NewDisposeScope();
        double off = smoothing / numClasses, on = 1 - smoothing + off;
        var y = labels.to(int64).view(-1, 1);
        var y1 = full(labels.shape[0], numClasses, off, dtype: float32, device: labels.device)
            .scatter_(1, y, full(labels.shape[0], 1, on, dtype: float32, device: labels.device));
        var y2 = y1.flip(0);
        return (y1 * lambda + y2 * (1 - lambda)).MoveToOuterDisposeScope();
    }

    /// <summary>Beta(a, b) via two Gamma draws.</summary>
    internal static double SampleBeta(Random rng, double a, double b)
    {
        double x = SampleGamma(rng, a), y = SampleGamma(rng, b);
        return x + y > 0 ? x / (x + y) : 0.5;
    }

    /// <summary>Gamma(shape, 1) by Marsaglia &amp; Tsang (2000); shape &lt; 1 via the U^(1/shape) boost.</summary>
    internal static double SampleGamma(Random rng, double shape)
    {
        if (shape < 1)
        {
            double u = rng.NextDouble();
            return SampleGamma(rng, shape + 1) * Math.Pow(u, 1 / shape);
        }
        double d = shape - 1.0 / 3, c = 1 / Math.Sqrt(9 * d);
        while (true)
        {
            double z, v;
            do
            {
                z = Normal(rng);
                v = 1 + c * z;
            } while (v <= 0);
            v = v * v * v;
            double u = rng.NextDouble();
            if (u < 1 - 0.0331 * z * z * z * z) return d * v;
            if (Math.Log(u) < 0.5 * z * z + d * (1 - v + Math.Log(v))) return d * v;
        }
    }

    private static double Normal(Random rng)
    {
        double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }
}
