using static TorchSharp.torch;

namespace CrateMae.Analysis;

/// <summary>
/// PCA of patch descriptors for feature visualisation (spec §7.5): mean-centred, no whitening, fitted in float64 by
/// eigen-decomposition of the covariance on the descriptors of many images together. Component signs follow
/// scikit-learn's <c>svd_flip</c> convention on the loadings (the largest-|value| entry of every component is positive),
/// so results are deterministic.
/// </summary>
public sealed class PatchPca
{
    private readonly double[] _mean;
    private readonly double[][] _components;

    private PatchPca(double[] mean, double[][] components, double[] explainedVariance, double totalVariance, int samples)
    {
        _mean = mean;
        _components = components;
        ExplainedVariance = explainedVariance;
        ExplainedVarianceRatio = explainedVariance.Select(v => totalVariance > 0 ? v / totalVariance : 0).ToArray();
        Samples = samples;
    }

    /// <summary>Descriptor width D.</summary>
    public int Dimension => _mean.Length;

    /// <summary>Number of components k.</summary>
    public int ComponentCount => _components.Length;

    /// <summary>Number of descriptors the PCA was fitted on.</summary>
    public int Samples { get; }

    /// <summary>The fitted mean (D values).</summary>
    public IReadOnlyList<double> Mean => _mean;

    /// <summary>Unit-length principal axes, strongest first: k rows of D loadings.</summary>
    public IReadOnlyList<IReadOnlyList<double>> Components => _components;

    /// <summary>Variance along each component (covariance eigenvalue, divisor M − 1), descending.</summary>
    public IReadOnlyList<double> ExplainedVariance { get; }

    /// <summary>Explained variance divided by the total variance (trace of the covariance).</summary>
    public IReadOnlyList<double> ExplainedVarianceRatio { get; }

    /// <summary>
    /// Fits a PCA with <paramref name="components"/> axes (spec default 4).
    /// </summary>
    /// <param name="descriptors">[M, D] or [B, L, D] (all images pooled).</param>
    /// <param name="components">k, 1 ≤ k ≤ min(M − 1, D).</param>
    /// <param name="foreground">Optional boolean mask selecting the rows to fit on: [M], [B, L] or [B, gh, gw] with gh·gw = L.</param>
    /// <exception cref="ArgumentException">Bad shapes, too few (foreground) descriptors for k, or non-finite values.</exception>
    public static PatchPca Fit(Tensor descriptors, int components = 4, Tensor? foreground = null)
    {
        ArgumentNullException.ThrowIfNull(descriptors);
        using var scope = NewDisposeScope();
        var x = Rows(descriptors, nameof(descriptors));                                         // [M, D] float64
        if (foreground is not null) x = x.index_select(0, RowMask(foreground, x.shape[0], descriptors).nonzero().squeeze(1));
        long m = x.shape[0], d = x.shape[1];
        if (components < 1 || components > d || components > m - 1)
            throw new ArgumentException($"cannot fit {components} components on {m} descriptors of width {d} (need 1 ≤ k ≤ min(M − 1, D))", nameof(components));
        if (!x.isfinite().all().item<bool>()) throw new ArgumentException("descriptors contain NaN or infinite values", nameof(descriptors));

        var mean = x.mean([0]);
        var centred = x - mean;
        var cov = centred.t().matmul(centred) / (m - 1);                                        // [D, D]
        cov = (cov + cov.t()) * 0.5;                                                            // exact symmetry for eigh
        var (values, vectors) = linalg.eigh(cov);                                               // ascending
        double total = cov.trace().item<double>();
        var order = arange(d - 1, d - 1 - components, -1, dtype: ScalarType.Int64);             // top k, descending
        var top = vectors.index_select(1, order).t().contiguous();                              // [k, D]
        var variances = values.index_select(0, order).clamp_min(0);

        // svd_flip on the loadings: make the largest-|value| entry of each component positive.
        var idx = top.abs().argmax(1, keepdim: true);
        var signs = top.gather(1, idx).sign();
        signs = where(signs.eq(0), ones_like(signs), signs);
        top = top * signs;

        var meanArr = mean.cpu().data<double>().ToArray();
        var topArr = top.cpu().data<double>().ToArray();
        var comps = Enumerable.Range(0, components).Select(i => topArr.AsSpan(i * (int)d, (int)d).ToArray()).ToArray();
        return new PatchPca(meanArr, comps, variances.cpu().data<double>().ToArray(), total, (int)m);
    }

    /// <summary>Projects descriptors onto the components: […, D] → […, k] (float64).</summary>
    public Tensor Transform(Tensor descriptors)
    {
        ArgumentNullException.ThrowIfNull(descriptors);
        if (descriptors.dim() < 1 || descriptors.shape[^1] != Dimension)
            throw new ArgumentException($"descriptors must end in width {Dimension}, got [{string.Join(", ", descriptors.shape)}]", nameof(descriptors));
        using var scope = NewDisposeScope();
        var x = descriptors.detach().to(ScalarType.Float64);
        var mean = tensor(_mean, dtype: ScalarType.Float64, device: x.device);
        var axes = tensor(_components.SelectMany(r => r).ToArray(), dtype: ScalarType.Float64, device: x.device)
            .view(ComponentCount, Dimension);
        return (x - mean).matmul(axes.t()).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Projects per-image descriptors [B, gh·gw, D] onto the components and lays them out on the patch grid:
    /// → [B, k, gh, gw] (float64). With a foreground mask ([B, gh·gw] or [B, gh, gw], boolean), background patches
    /// of each image get (minimum over that image's foreground − 1) per component, so they become 0 after
    /// <see cref="MinMaxNormalize"/>; an image without foreground patches is left unmasked.
    /// </summary>
    public Tensor ProjectGrid(Tensor descriptors, int gridHeight, int gridWidth, Tensor? foreground = null)
    {
        ArgumentNullException.ThrowIfNull(descriptors);
        if (descriptors.dim() != 3 || descriptors.shape[1] != (long)gridHeight * gridWidth)
            throw new ArgumentException($"descriptors must be [B, {gridHeight}·{gridWidth}, D], got [{string.Join(", ", descriptors.shape)}]", nameof(descriptors));
        using var scope = NewDisposeScope();
        long b = descriptors.shape[0];
        var proj = Transform(descriptors);                                                      // [B, L, k]
        if (foreground is not null)
        {
            var fg = RowMask(foreground, b * descriptors.shape[1], descriptors).view(b, -1, 1).to(proj.device);   // [B, L, 1]
            var inf = full_like(proj, double.PositiveInfinity);
            var fgMin = where(fg, proj, inf).amin([1], keepdim: true);                            // [B, 1, k]
            var hasFg = fg.any(1, keepdim: true);                                                  // [B, 1, 1]
            proj = where(fg.logical_or(hasFg.logical_not()), proj, fgMin - 1.0);
        }
        return proj.permute(0, 2, 1).reshape(b, ComponentCount, gridHeight, gridWidth).contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Min–max normalises every component of every image over its grid to [0, 1]: [B, k, gh, gw] → same shape.
    /// A constant component becomes 0.
    /// </summary>
    public static Tensor MinMaxNormalize(Tensor grids)
    {
        ArgumentNullException.ThrowIfNull(grids);
        if (grids.dim() != 4) throw new ArgumentException($"grids must be [B, k, gh, gw], got [{string.Join(", ", grids.shape)}]", nameof(grids));
        using var scope = NewDisposeScope();
        var lo = grids.amin([2, 3], keepdim: true);
        var hi = grids.amax([2, 3], keepdim: true);
        var range = hi - lo;
        var safe = where(range.gt(0), range, ones_like(range));
        return ((grids - lo) / safe).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Three normalised components as an RGB image per image: [B, k, gh, gw] → [B, 3, gh, gw], channels =
    /// components <paramref name="firstComponent"/> … +2. The default (0) uses the first three; the reference recipe
    /// with 4 components shows the last three (<paramref name="firstComponent"/> = 1).
    /// </summary>
    public static Tensor Rgb(Tensor normalized, int firstComponent = 0)
    {
        ArgumentNullException.ThrowIfNull(normalized);
        if (normalized.dim() != 4) throw new ArgumentException($"components must be [B, k, gh, gw], got [{string.Join(", ", normalized.shape)}]", nameof(normalized));
        if (firstComponent < 0 || firstComponent + 3 > normalized.shape[1])
            throw new ArgumentException($"RGB needs components {firstComponent}…{firstComponent + 2}, but there are {normalized.shape[1]}", nameof(firstComponent));
        return normalized[.., firstComponent..(firstComponent + 3)].contiguous();
    }

    private static Tensor Rows(Tensor descriptors, string name)
    {
        if (descriptors.dim() is not (2 or 3))
            throw new ArgumentException($"descriptors must be [M, D] or [B, L, D], got [{string.Join(", ", descriptors.shape)}]", name);
        var x = descriptors.detach().to(ScalarType.Float64);
        return x.dim() == 3 ? x.reshape(-1, x.shape[2]) : x;
    }

    /// <summary>A foreground mask ([M], [B, L] or [B, gh, gw]) flattened to [rows] booleans, checked against the descriptor rows.</summary>
    private static Tensor RowMask(Tensor foreground, long rows, Tensor descriptors)
    {
        if (foreground.dtype != ScalarType.Bool)
            throw new ArgumentException($"foreground mask must be boolean, got {foreground.dtype}", nameof(foreground));
        if (foreground.numel() != rows || (descriptors.dim() == 3 && foreground.shape[0] != descriptors.shape[0]))
            throw new ArgumentException($"foreground mask [{string.Join(", ", foreground.shape)}] does not match descriptors [{string.Join(", ", descriptors.shape)}]", nameof(foreground));
        return foreground.reshape(-1).to(descriptors.device);
    }
}
