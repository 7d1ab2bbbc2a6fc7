namespace CrateMae.Evaluation;

/// <summary>
/// Limited-memory BFGS (Nocedal &amp; Wright, Alg. 7.4/7.5) with a backtracking Armijo line search (safeguarded
/// quadratic interpolation). Meant for smooth, strongly convex objectives such as L2-regularised logistic regression,
/// where every L-BFGS direction is a descent direction and s·y &gt; 0 holds for every step. The vector algebra runs in
/// managed double precision; the objective decides how it evaluates itself.
/// </summary>
public sealed class Lbfgs
{
    /// <summary>
    /// Objective: writes ∇f(<paramref name="x"/>) into <paramref name="gradient"/> (same length) and returns f(x).
    /// </summary>
    public delegate double Objective(ReadOnlySpan<double> x, Span<double> gradient);

    private readonly LbfgsOptions _options;

    public Lbfgs(LbfgsOptions? options = null) => _options = (options ?? new LbfgsOptions()).Validate();

    /// <summary>Minimises <paramref name="f"/> from <paramref name="x0"/> (not modified).</summary>
    public LbfgsResult Minimize(Objective f, ReadOnlySpan<double> x0)
    {
        ArgumentNullException.ThrowIfNull(f);
        var o = _options;
        int n = x0.Length;
        if (n == 0) throw new ArgumentException("x0 must not be empty", nameof(x0));

        var x = x0.ToArray();
        var g = new double[n];
        double fx = f(x, g);
        int evals = 1;
        CheckFinite(fx, g, "the starting point");
        double gnorm = Norm(g);
        if (gnorm <= o.GradientTolerance) return new LbfgsResult(x, fx, gnorm, 0, evals, true, "gradient_tolerance");

        var s = new List<double[]>(o.History);
        var y = new List<double[]>(o.History);
        var rho = new List<double>(o.History);
        var alpha = new double[o.History];
        var d = new double[n];
        var xNew = new double[n];
        var gNew = new double[n];

        for (int iter = 1; iter <= o.MaxIterations; iter++)
        {
            // Two-loop recursion: d = −H·g with H₀ = γI, γ = sᵀy / yᵀy of the newest pair.
            for (int i = 0; i < n; i++) d[i] = -g[i];
            for (int j = s.Count - 1; j >= 0; j--)
            {
                alpha[j] = rho[j] * Dot(s[j], d);
                Axpy(-alpha[j], y[j], d);
            }
            double initialStep = 1.0;
            if (s.Count > 0)
            {
                var yl = y[^1];
                Scale(d, Dot(s[^1], yl) / Dot(yl, yl));
            }
            else
            {
                initialStep = Math.Min(1.0, 1.0 / gnorm);    // first step: unit-length move along −g
            }
            for (int j = 0; j < s.Count; j++)
            {
                double beta = rho[j] * Dot(y[j], d);
                Axpy(alpha[j] - beta, s[j], d);
            }

            double gtd = Dot(g, d);
            if (!(gtd < 0))
            {
                // Not a descent direction (numerical trouble): drop the memory and use steepest descent.
                s.Clear(); y.Clear(); rho.Clear();
                for (int i = 0; i < n; i++) d[i] = -g[i];
                gtd = -gnorm * gnorm;
                initialStep = Math.Min(1.0, 1.0 / gnorm);
            }

            // Backtracking Armijo line search.
            double t = initialStep, fNew = double.NaN;
            bool accepted = false;
            for (int ls = 0; ls < o.MaxLineSearchSteps; ls++)
            {
                for (int i = 0; i < n; i++) xNew[i] = x[i] + t * d[i];
                fNew = f(xNew, gNew);
                evals++;
                if (double.IsFinite(fNew) && fNew <= fx + o.ArmijoC1 * t * gtd)
                {
                    accepted = true;
                    break;
                }
                // Minimiser of the quadratic through f(0), f'(0), f(t), kept within [0.1t, 0.5t].
                double denom = 2 * (fNew - fx - gtd * t);
                double tq = double.IsFinite(fNew) && denom > 0 ? -gtd * t * t / denom : 0.5 * t;
                t = Math.Clamp(tq, 0.1 * t, 0.5 * t);
            }
            if (!accepted)
                return new LbfgsResult(x, fx, gnorm, iter - 1, evals, gnorm <= o.GradientTolerance, "line_search_failed");
            CheckFinite(fNew, gNew, $"iteration {iter}");

            // Curvature pair; skipped when sᵀy is not safely positive (cannot happen for strongly convex f in exact arithmetic).
            var sk = new double[n];
            var yk = new double[n];
            for (int i = 0; i < n; i++)
            {
                sk[i] = xNew[i] - x[i];
                yk[i] = gNew[i] - g[i];
            }
            double sy = Dot(sk, yk);
            if (sy > 1e-12 * Math.Sqrt(Dot(sk, sk) * Dot(yk, yk)) && sy > 0)
            {
                if (s.Count == o.History)
                {
                    s.RemoveAt(0); y.RemoveAt(0); rho.RemoveAt(0);
                }
                s.Add(sk); y.Add(yk); rho.Add(1.0 / sy);
            }

            (x, xNew) = (xNew, x);
            (g, gNew) = (gNew, g);
            fx = fNew;
            gnorm = Norm(g);
            if (gnorm <= o.GradientTolerance) return new LbfgsResult(x, fx, gnorm, iter, evals, true, "gradient_tolerance");
        }
        return new LbfgsResult(x, fx, gnorm, o.MaxIterations, evals, false, "max_iterations");
    }

    private static void CheckFinite(double value, double[] gradient, string where)
    {
        if (!double.IsFinite(value) || !double.IsFinite(Norm(gradient)))
            throw new ArithmeticException($"L-BFGS: the objective or its gradient is not finite at {where}");
    }

    private static double Dot(double[] a, double[] b)
    {
        double acc = 0;
        for (int i = 0; i < a.Length; i++) acc += a[i] * b[i];
        return acc;
    }

    private static double Norm(double[] a) => Math.Sqrt(Dot(a, a));

    private static void Axpy(double alpha, double[] x, double[] y)
    {
        for (int i = 0; i < x.Length; i++) y[i] += alpha * x[i];
    }

    private static void Scale(double[] x, double alpha)
    {
        for (int i = 0; i < x.Length; i++) x[i] *= alpha;
    }
}
