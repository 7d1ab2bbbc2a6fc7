using CrateMae.Models;
using static TorchSharp.torch;

namespace CrateMae.Analysis;

/// <summary>
/// Streams batches of images through a <see cref="LayerProbe"/> and aggregates, per encoder layer, the mean and
/// unbiased std over ALL images of the coding rate R^c, of the block output's sparsity (spec §7.1–7.3) and of the
/// cls-attention foreground ratio (over the images where it is defined).
/// </summary>
public sealed class WhiteBoxAnalyzer
{
    private readonly LayerProbe _probe;

    /// <param name="model">The model to measure.</param>
    /// <param name="epsilon">ε of the coding rate (default 0.01).</param>
    public WhiteBoxAnalyzer(MaskedAutoencoder model, double epsilon = CodingRate.DefaultEpsilon)
    {
        _probe = new LayerProbe(model, epsilon);
    }

    /// <summary>The underlying probe (for attention maps and PCA descriptors on the same model).</summary>
    public LayerProbe Probe => _probe;

    /// <summary>
    /// Measures every batch and aggregates over all images. Each batch is processed inside its own
    /// <c>torch.NewDisposeScope()</c> under <c>no_grad</c>. The batch tensors belong to the caller and are not
    /// disposed here; a streaming source should dispose each batch once the next one is requested
    /// (e.g. <c>using var batch = Load(i); yield return batch;</c> in an iterator).
    /// </summary>
    /// <param name="batches">Image batches [B, C, H, W]; batch sizes may differ.</param>
    /// <param name="modelName">Name stored in the report.</param>
    /// <param name="progress">Optional: receives the number of images measured so far after each batch.</param>
    /// <exception cref="ArgumentException">No images at all.</exception>
    public WhiteBoxReport Analyze(IEnumerable<Tensor> batches, string modelName, IProgress<int>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(batches);
        ArgumentNullException.ThrowIfNull(modelName);
        int depth = _probe.Depth;
        var rates = Enumerable.Range(0, depth).Select(_ => new List<double>()).ToArray();
        var zeros = Enumerable.Range(0, depth).Select(_ => new List<double>()).ToArray();
        var ratios = Enumerable.Range(0, depth).Select(_ => new List<double>()).ToArray();
        int images = 0;
        foreach (var batch in batches)
        {
            ArgumentNullException.ThrowIfNull(batch, nameof(batches));
            using (var scope = NewDisposeScope())
            using (no_grad())
            {
                var layers = _probe.Measure(batch);
                for (int l = 0; l < depth; l++)
                {
                    rates[l].AddRange(layers[l].CodingRates);
                    zeros[l].AddRange(layers[l].ZeroFractions);
                    ratios[l].AddRange(layers[l].ForegroundRatios.Where(double.IsFinite));
                }
                images += layers[0].CodingRates.Count;
            }
            progress?.Report(images);
        }
        if (images == 0) throw new ArgumentException("no images were given to analyse", nameof(batches));

        var stats = new List<LayerStatistics>(depth);
        for (int l = 0; l < depth; l++)
        {
            var r = SampleStatistics.Of(rates[l]);
            var z = SampleStatistics.Of(zeros[l]);
            var f = ratios[l].Count > 0 ? SampleStatistics.Of(ratios[l]) : null;
            stats.Add(new LayerStatistics(l + 1, r.Mean, r.Std, Sparsity.Density(z.Mean), z.Std, z.Mean, f?.Mean, f?.Std));
        }
        string kind = _probe.Model.Config.Kind == BlockKind.Crate ? "crate" : "vit";
        return new WhiteBoxReport(modelName, images, kind, _probe.Epsilon, stats);
    }
}
