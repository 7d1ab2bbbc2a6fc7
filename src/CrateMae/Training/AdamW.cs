using static TorchSharp.torch;

namespace CrateMae.Training;

/// <summary>
/// AdamW with PyTorch's update rule (decoupled decay p ← p(1 − lr·wd), bias-corrected moments), written out so that
/// its whole state (moments and step counts) is visible for checkpoints and resumable bit for bit.
/// Parameters without a gradient are skipped, as in PyTorch (no decay either).
/// </summary>
/// <remarks>
/// By default one call per parameter group runs libtorch's fused multi-tensor kernel <c>_fused_adamw_</c> (the one
/// behind PyTorch's <c>AdamW(fused=True)</c>; TorchSharp does not bind it, see <see cref="FusedAdamWKernel"/>): one
/// vectorised pass over parameter, gradient and both moments instead of about eight element-wise ops per parameter.
/// Same update rule; the result differs from the per-op form only by float rounding (≈1e-9 relative). With
/// <c>fused: false</c>, for non-float32/non-CPU tensors, or when the op may not be called (another libtorch release than
/// 2.10, another platform than Linux x64), the per-op form runs.
/// </remarks>
public sealed class AdamW : IDisposable
{
    private readonly IReadOnlyList<ParamGroup> _groups;
    private readonly Dictionary<string, (Tensor ExpAvg, Tensor ExpAvgSq)> _moments = new();
    private readonly Dictionary<string, long> _steps = new();

    public AdamW(IReadOnlyList<ParamGroup> groups, double beta1 = 0.9, double beta2 = 0.95, double eps = 1e-8, bool fused = true)
    {
        _groups = groups;
        Beta1 = beta1;
        Beta2 = beta2;
        Eps = eps;
        Fused = fused && FusedAdamWKernel.Available;
    }

    /// <summary>
    /// An optimizer that uses the fused kernel only if it may be called with a libtorch reporting
    /// <paramref name="libtorchVersion"/> (<see cref="FusedAdamWKernel.AvailableFor"/>).
    /// </summary>
    internal AdamW(IReadOnlyList<ParamGroup> groups, string? libtorchVersion) : this(groups)
    {
        Fused = FusedAdamWKernel.AvailableFor(libtorchVersion);
    }

    /// <summary>Whether <see cref="Step"/> uses the fused multi-tensor kernel: asked for, and callable in this process.</summary>
    public bool Fused { get; }

    public double Beta1 { get; }
    public double Beta2 { get; }
    public double Eps { get; }
    public IReadOnlyList<ParamGroup> Groups => _groups;

    public void ZeroGrad()
    {
        foreach (var g in _groups)
        foreach (var (_, p) in g.Params)
            if (p.grad is { } grad) { grad.Dispose(); p.grad = null; }
    }

    /// <summary>One update with base learning rate <paramref name="lr"/> (each group applies its own scale).</summary>
    public void Step(double lr)
    {
        using var _ = no_grad();
        bool fused = Fused;
        foreach (var group in _groups)
        {
            double groupLr = lr * group.LrScale;
            if (fused)
            {
                StepFused(group, groupLr);
                continue;
            }
            foreach (var (key, p) in group.Params)
            {
                if (p.grad is { } grad) StepOne(key, p, grad, Moments(key, p), groupLr, group.WeightDecay);
            }
        }
    }

    /// <summary>The per-op update of one parameter (PyTorch's single-tensor AdamW).</summary>
    private void StepOne(string key, Tensor p, Tensor grad, (Tensor ExpAvg, Tensor ExpAvgSq) m, double lr, double weightDecay)
    {
        using var scope = NewDisposeScope();
        long t = _steps[key] = _steps.GetValueOrDefault(key) + 1;
        if (weightDecay != 0) p.mul_(1 - lr * weightDecay);
        m.ExpAvg.lerp_(grad, 1 - Beta1);
        m.ExpAvgSq.mul_(Beta2).addcmul_(grad, grad, value: 1 - Beta2);
        double bc1 = 1 - Math.Pow(Beta1, t);
        double bc2 = 1 - Math.Pow(Beta2, t);
        var denom = (m.ExpAvgSq.sqrt() / Math.Sqrt(bc2)).add_(Eps);
        p.addcdiv_(m.ExpAvg, denom, value: -lr / bc1);
    }

    private (Tensor ExpAvg, Tensor ExpAvgSq) Moments(string key, Tensor p)
    {
        if (!_moments.TryGetValue(key, out var m))
        {
            m = (zeros_like(p).DetachFromDisposeScope(), zeros_like(p).DetachFromDisposeScope());
            _moments[key] = m;
        }
        return m;
    }

    private void StepFused(ParamGroup group, double groupLr)
    {
        using var scope = NewDisposeScope();
        var ps = new List<Tensor>();
        var gs = new List<Tensor>();
        var ms = new List<Tensor>();
        var vs = new List<Tensor>();
        var steps = new List<Tensor>();
        foreach (var (key, p) in group.Params)
        {
            if (p.grad is not { } grad) continue;
            var m = Moments(key, p);
            if (!FusedAdamWKernel.Supports(p, grad, m.ExpAvg, m.ExpAvgSq))
            {
                StepOne(key, p, grad, m, groupLr, group.WeightDecay);
                continue;
            }
            long t = _steps[key] = _steps.GetValueOrDefault(key) + 1;
            ps.Add(p);
            gs.Add(grad);
            ms.Add(m.ExpAvg);
            vs.Add(m.ExpAvgSq);
            steps.Add(tensor((float)t));
        }
        FusedAdamWKernel.Step(ps, gs, ms, vs, steps, groupLr, Beta1, Beta2, group.WeightDecay, Eps);
    }

    /// <summary>The state as named tensors (<c>exp_avg.KEY</c>, <c>exp_avg_sq.KEY</c>) and step counts.</summary>
    public (IReadOnlyList<(string Key, Tensor Value)> Tensors, IReadOnlyDictionary<string, long> Steps) State()
    {
        var list = new List<(string, Tensor)>();
        foreach (var (k, m) in _moments)
        {
            list.Add(("exp_avg." + k, m.ExpAvg));
            list.Add(("exp_avg_sq." + k, m.ExpAvgSq));
        }
        return (list, new Dictionary<string, long>(_steps));
    }

    /// <summary>Restores <see cref="State"/>; every key must belong to a parameter of this optimiser with the same shape.</summary>
    public void LoadState(IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, long> steps, string source)
    {
        var byKey = _groups.SelectMany(g => g.Params).ToDictionary(kp => kp.Key, kp => kp.Param);
        foreach (var (key, step) in steps)
        {
            if (!byKey.TryGetValue(key, out var p))
                throw new InvalidDataException($"{source}: optimizer state names parameter '{key}', which this model does not train");
            if (!tensors.TryGetValue("exp_avg." + key, out var a) || !tensors.TryGetValue("exp_avg_sq." + key, out var b))
                throw new InvalidDataException($"{source}: optimizer state for '{key}' is incomplete");
            if (!a.shape.SequenceEqual(p.shape) || !b.shape.SequenceEqual(p.shape))
                throw new InvalidDataException($"{source}: optimizer state for '{key}' has shape [{string.Join(", ", a.shape)}], parameter has [{string.Join(", ", p.shape)}]");
            if (_moments.TryGetValue(key, out var old)) { old.ExpAvg.Dispose(); old.ExpAvgSq.Dispose(); }
            _moments[key] = (a.to(p.dtype, p.device).clone().DetachFromDisposeScope(), b.to(p.dtype, p.device).clone().DetachFromDisposeScope());
            _steps[key] = step;
        }
    }

    public void Dispose()
    {
        foreach (var m in _moments.Values) { m.ExpAvg.Dispose(); m.ExpAvgSq.Dispose(); }
        _moments.Clear();
    }
}
