using CrateMae.Analysis;
using TorchSharp;
using static TorchSharp.torch;

namespace CrateMae.Tests.Analysis;

public sealed class PatchPcaTests
{
    public PatchPcaTests() => AnalysisTestSupport.Init();

    /// <summary>M samples in D = 10 dimensions: offset + 10·s₁q₁ + 5·s₂q₂ + 2.5·s₃q₃ + 0.1·noise, q orthonormal.</summary>
    private static (Tensor Data, Tensor Directions, Tensor Offset) Planted(int m = 800, long seed = 21)
    {
        using var g = new torch.Generator((ulong)seed);
        using var scope = NewDisposeScope();
        var (q, _) = linalg.qr(randn(10, 10, generator: g, dtype: ScalarType.Float64));
        var dirs = q.t()[..3].contiguous();                                                    // [3, 10], orthonormal rows
        var scales = tensor(new[] { 10.0, 5.0, 2.5 }, dtype: ScalarType.Float64);
        var coeff = randn(m, 3, generator: g, dtype: ScalarType.Float64) * scales;
        var offset = randn(10, generator: g, dtype: ScalarType.Float64) * 3;
        var data = coeff.matmul(dirs) + offset + randn(m, 10, generator: g, dtype: ScalarType.Float64) * 0.1;
        return (data.MoveToOuterDisposeScope(), dirs.MoveToOuterDisposeScope(), offset.MoveToOuterDisposeScope());
    }

    [Fact]
    public void Fit_RecoversPlantedDirections_InOrderOfVariance()
    {
        // Given data with three strong orthogonal directions of std 10, 5, 2.5
        var (data, dirs, offset) = Planted();
        using (data) using (dirs) using (offset)
        {
            // When a 3-component PCA is fitted (as float32 descriptors [B, L, D])
            using var asImages = data.to(ScalarType.Float32).view(40, 20, 10);
            var pca = PatchPca.Fit(asImages, components: 3);

            // Then every component matches its planted direction up to sign, variances are ordered and close
            Assert.Equal(3, pca.ComponentCount);
            Assert.Equal(800, pca.Samples);
            for (int i = 0; i < 3; i++)
            {
                using var c = tensor(pca.Components[i].ToArray(), dtype: ScalarType.Float64);
                Assert.True(Math.Abs(c.dot(dirs[i]).item<double>()) > 0.999, $"component {i} is off its planted direction");
                Assert.Equal(1.0, c.norm().item<double>(), 9);
            }
            Assert.True(pca.ExplainedVariance[0] > pca.ExplainedVariance[1] && pca.ExplainedVariance[1] > pca.ExplainedVariance[2]);
            double[] expected = [100, 25, 6.25];
            for (int i = 0; i < 3; i++) Assert.InRange(pca.ExplainedVariance[i] / expected[i], 0.8, 1.2);
            Assert.True(pca.ExplainedVarianceRatio.Sum() is > 0.99 and <= 1.0 + 1e-9);
            using var sampleMean = asImages.to(ScalarType.Float64).view(800, 10).mean([0]);
            for (int j = 0; j < 10; j++) Assert.Equal(sampleMean[j].item<double>(), pca.Mean[j], 9);
        }
    }

    [Fact]
    public void Signs_FollowSvdFlip_SoNegatedDataGivesTheSameAxes()
    {
        // Given planted data and its negation
        var (data, dirs, offset) = Planted(seed: 4);
        using (data) using (dirs) using (offset)
        using (var negated = -data)
        {
            // When both are fitted
            var a = PatchPca.Fit(data, components: 3);
            var b = PatchPca.Fit(negated, components: 3);

            // Then each component's largest-|value| loading is positive, so both fits give identical axes
            for (int i = 0; i < 3; i++)
            {
                var loadings = a.Components[i];
                double maxAbs = loadings.Max(Math.Abs);
                Assert.True(loadings.First(v => Math.Abs(v) == maxAbs) > 0);
                Assert.Equal(loadings, b.Components[i], (x, y) => Math.Abs(x - y) < 1e-9);
            }
        }
    }

    [Fact]
    public void Transform_ProjectsOntoTheComponents()
    {
        var (data, dirs, offset) = Planted(seed: 9);
        using (data) using (dirs) using (offset)
        {
            var pca = PatchPca.Fit(data, components: 3);
            // Given the mean and the mean moved by 3 along the first component
            using var axis = tensor(pca.Components[0].ToArray(), dtype: ScalarType.Float64);
            using var mean = tensor(pca.Mean.ToArray(), dtype: ScalarType.Float64);
            using var points = stack([mean, mean + axis * 3]);

            // When projected
            using var proj = pca.Transform(points);

            // Then the coordinates are (0, 0, 0) and (3, 0, 0)
            Assert.Equal(new long[] { 2, 3 }, proj.shape);
            using var expected = tensor(new double[] { 0, 0, 0, 3, 0, 0 }).view(2, 3);
            Assert.True(proj.allclose(expected, atol: 1e-9));
        }
    }

    [Fact]
    public void ProjectGrid_WithForeground_PutsBackgroundBelowTheMinimum()
    {
        // Given 2 images with a 2×3 patch grid of 10-wide descriptors, and a foreground mask per image
        var (data, dirs, offset) = Planted(m: 12, seed: 2);
        using (data) using (dirs) using (offset)
        {
            using var descriptors = data.view(2, 6, 10);
            using var fg = tensor(new[] { true, true, false, true, false, true, false, true, true, true, true, false }).view(2, 2, 3);

            // When fitted on the foreground only and projected onto the grid
            var pca = PatchPca.Fit(descriptors, components: 3, foreground: fg);
            using var grid = pca.ProjectGrid(descriptors, 2, 3, fg);
            using var normalized = PatchPca.MinMaxNormalize(grid);
            using var rgb = PatchPca.Rgb(normalized);

            // Then the fit used the 8 foreground rows; background patches sit at (foreground min − 1) and become 0
            Assert.Equal(8, pca.Samples);
            using var fgRows = data.index_select(0, fg.reshape(-1).nonzero().squeeze(1));
            using var fgMean = fgRows.mean([0]);
            for (int j = 0; j < 10; j++) Assert.Equal(fgMean[j].item<double>(), pca.Mean[j], 9);
            Assert.Equal(new long[] { 2, 3, 2, 3 }, grid.shape);
            for (int b = 0; b < 2; b++)
            for (int k = 0; k < 3; k++)
            {
                double fgMin = double.PositiveInfinity;
                for (int y = 0; y < 2; y++)
                for (int x = 0; x < 3; x++)
                    if (fg[b, y, x].item<bool>()) fgMin = Math.Min(fgMin, grid[b, k, y, x].item<double>());
                for (int y = 0; y < 2; y++)
                for (int x = 0; x < 3; x++)
                {
                    if (fg[b, y, x].item<bool>()) continue;
                    Assert.Equal(fgMin - 1, grid[b, k, y, x].item<double>(), 9);
                    Assert.Equal(0.0, normalized[b, k, y, x].item<double>(), 12);
                }
            }
            Assert.True(normalized.min().item<double>() >= 0 && normalized.max().item<double>() <= 1);
            Assert.Equal(new long[] { 2, 3, 2, 3 }, rgb.shape);
        }
    }

    [Fact]
    public void ProjectGrid_IsRowMajorOverThePatchGrid()
    {
        var (data, dirs, offset) = Planted(m: 24, seed: 6);
        using (data) using (dirs) using (offset)
        {
            var pca = PatchPca.Fit(data, components: 2);
            using var descriptors = data.view(2, 12, 10);
            using var flat = pca.Transform(descriptors);                 // [2, 12, 2]
            using var grid = pca.ProjectGrid(descriptors, 3, 4);         // [2, 2, 3, 4]
            // patch t = row·4 + col
            Assert.Equal(flat[1, 6, 1].item<double>(), grid[1, 1, 1, 2].item<double>(), 12);
            Assert.Equal(flat[0, 11, 0].item<double>(), grid[0, 0, 2, 3].item<double>(), 12);
        }
    }

    [Fact]
    public void Fit_RejectsTooManyComponents()
    {
        using var x = randn(5, 4);
        Assert.Throws<ArgumentException>(() => PatchPca.Fit(x, components: 5));
        Assert.Throws<ArgumentException>(() => PatchPca.Fit(randn(3, 8), components: 3));
        using var normalized = rand(1, 2, 3, 3);
        Assert.Throws<ArgumentException>(() => PatchPca.Rgb(normalized));
    }
}
