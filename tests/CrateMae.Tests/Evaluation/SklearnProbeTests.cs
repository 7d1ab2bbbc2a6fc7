using System.Diagnostics;
using System.Globalization;
using CrateMae.Evaluation;
using CrateMae.Tests.Data;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace CrateMae.Tests.Evaluation;

/// <summary>
/// The linear probe against scikit-learn's <c>LogisticRegression</c> (lbfgs, multinomial) on the same standardised
/// features and the same objective: mean cross-entropy + (λ/2)‖W‖² is scikit-learn's C·Σ CE + ½‖W‖² divided by C·n,
/// so C = 1/(λ·n), the intercept unpenalised in both. Both fits converge to the same minimiser, so the test top-1
/// agrees up to the few test points that lie on a decision boundary (here within 0.2 points). Both times are printed.
/// </summary>
public sealed class SklearnProbeTests(ITestOutputHelper output) : IDisposable
{
    private readonly TempDirectory _tmp = new();

    public void Dispose() => _tmp.Dispose();

    private static string? SklearnProblem()
    {
        if (!File.Exists(NumpyFactAttribute.Python)) return $"{NumpyFactAttribute.Python} not found";
        using var p = Process.Start(new ProcessStartInfo(NumpyFactAttribute.Python, ["-c", "import sklearn"])
        {
            RedirectStandardError = true, RedirectStandardOutput = true,
        })!;
        p.WaitForExit(60_000);
        return p.ExitCode == 0 ? null : $"scikit-learn is not importable: {p.StandardError.ReadToEnd().Trim()}";
    }

    [SkippableTheory]
    [InlineData(1e-3)]
    [InlineData(1e-5)]
    public void Given_overlapping_blobs_When_probed_at_a_fixed_lambda_Then_top1_matches_scikit_learn(double lambda)
    {
        var problem = SklearnProblem();
        Skip.If(problem is not null, problem + " (scripts/setup.sh installs python3-sklearn)");
        using var scope = NewDisposeScope();
        var centres = SyntheticData.Centres(10, 48, separation: 0.45, seed: 11);
        var (trainX, trainY) = SyntheticData.Blobs(10, 400, 48, 0.45, seed: 12, centres);
        var (testX, testY) = SyntheticData.Blobs(10, 200, 48, 0.45, seed: 13, centres);
        var files = new[] { ("train_x", trainX), ("train_y", trainY), ("test_x", testX), ("test_y", testY) }
            .ToDictionary(f => f.Item1, f => _tmp.File(f.Item1 + ".npy"));
        foreach (var (name, t) in new[] { ("train_x", trainX), ("train_y", trainY), ("test_x", testX), ("test_y", testY) })
            NpyWriter.Write(files[name], t);

        var clock = Stopwatch.StartNew();
        var probe = LinearProbe.FitFixed(trainX, trainY, lambda);
        double ours = probe.Accuracy(testX, testY);
        double oursSeconds = clock.Elapsed.TotalSeconds;

        var script = string.Join('\n',
            "import sys, time, numpy as np",
            "from sklearn.linear_model import LogisticRegression",
            "from sklearn.preprocessing import StandardScaler",
            "x, y, tx, ty = (np.load(f) for f in sys.argv[1:5]); lam = float(sys.argv[5])",
            "s = StandardScaler().fit(x.astype(np.float64))",
            "t = time.perf_counter()",
            "m = LogisticRegression(C=1.0 / (lam * len(y)), tol=1e-6, max_iter=10000).fit(s.transform(x.astype(np.float64)), y)",
            "print(repr(float((m.predict(s.transform(tx.astype(np.float64))) == ty).mean())), repr(time.perf_counter() - t), int(m.n_iter_[0]))");
        var psi = new ProcessStartInfo(NumpyFactAttribute.Python) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-c", script, files["train_x"], files["train_y"], files["test_x"], files["test_y"],
                     lambda.ToString("R", CultureInfo.InvariantCulture) })
            psi.ArgumentList.Add(a);
        psi.Environment["OMP_NUM_THREADS"] = "1";
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEnd();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"scikit-learn failed:\n{stderr}");
        var parts = stdout.Trim().Split(' ');
        double theirs = double.Parse(parts[0], CultureInfo.InvariantCulture);
        output.WriteLine($"λ {lambda}: ours top-1 {ours:P2} in {oursSeconds:F2} s ({probe.Solver.Iterations} iterations); " +
                         $"scikit-learn {theirs:P2} in {double.Parse(parts[1], CultureInfo.InvariantCulture):F2} s ({parts[2]} iterations)");
        Assert.True(ours is > 0.3 and < 0.99, $"the blobs should be neither trivial nor hopeless: top-1 {ours}");
        Assert.InRange(ours - theirs, -0.002, 0.002);
    }
}
