using CrateMae.Data;
using CrateMae.Models;
using TorchSharp;

namespace CrateMae.Analysis;

/// <summary>A model to measure, with its legend name, where it came from and the normalisation its images need.</summary>
/// <param name="Name">Legend text.</param>
/// <param name="Source">Checkpoint path or "random init of CONFIG, seed S".</param>
/// <param name="Model">The model (not disposed here).</param>
/// <param name="Normalization">Image normalisation for this model (the checkpoint's, when known), or null for the dataset default.</param>
public sealed record AnalysisModel(string Name, string Source, MaskedAutoencoder Model, NormalizationStats? Normalization);

/// <summary>
/// <c>crate-mae analyze</c>: per encoder layer R^c, sparsity (spec §7.1–7.3) and cls-attention foreground ratio of one
/// or several models over the same dataset images on the unmasked path (<see cref="Reporting.LayerCurvePlot"/> draws the two overlaid plots).
/// </summary>
public static class WhiteBoxComparison
{
    /// <summary>
    /// A fresh model of <paramref name="config"/> initialised from <paramref name="seed"/> (the random-init baseline),
    /// in eval mode on <paramref name="device"/>; the same seed gives the same weights.
    /// </summary>
    /// <remarks>The model seeds (and restores) the global generator itself: TorchSharp's init ignores generators.</remarks>
    public static MaskedAutoencoder RandomInit(MaeConfig config, ulong seed, torch.Device? device = null)
    {
        using var generator = new torch.Generator(seed);
        var model = new MaskedAutoencoder(config, generator);
        if (device is not null) model.to(device);
        model.eval();
        return model;
    }

    /// <summary>
    /// The random-init baseline <paramref name="fresh"/> (from <see cref="RandomInit"/> with <paramref name="seed"/>) as a
    /// model to measure: named "random init (seed S)", with the source that marks its series as
    /// <see cref="AnalysisSeries.IsRandomInit"/>.
    /// </summary>
    public static AnalysisModel RandomInitModel(MaskedAutoencoder fresh, ulong seed, NormalizationStats? normalization)
    {
        ArgumentNullException.ThrowIfNull(fresh);
        return new AnalysisModel($"random init (seed {seed})", $"{AnalysisSeries.RandomInitSourcePrefix}{fresh.Config.Name}, seed {seed}", fresh, normalization);
    }

    /// <summary>
    /// Measures every model on the first <paramref name="images"/> images of the test split (unless the spec names a
    /// split) in batches of <paramref name="batchSize"/>; each model gets its own normalisation.
    /// </summary>
    /// <param name="progress">Receives (model name, images done) after every batch.</param>
    public static AnalysisFile Run(IReadOnlyList<AnalysisModel> models, DataRequest request, int images, int batchSize,
        double epsilon = CodingRate.DefaultEpsilon, Action<string, int>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(models);
        ArgumentNullException.ThrowIfNull(request);
        if (models.Count == 0) throw new ArgumentException("no models to analyse");
        var series = new List<AnalysisSeries>();
        int measured = 0;
        foreach (var m in models)
        {
            m.Model.eval();
            var analyzer = new WhiteBoxAnalyzer(m.Model, epsilon);
            var batches = AnalysisImages.Batches(request with { Normalization = m.Normalization }, m.Model.Config, images, batchSize);
            var report = analyzer.Analyze(batches, m.Name, new Progress(n => progress?.Invoke(m.Name, n)));
            measured = report.Images;
            series.Add(new AnalysisSeries(m.Name, m.Source, report));
        }
        return new AnalysisFile(AnalysisFile.CurrentSchema, AnalysisImages.DatasetName(request), measured, "unmasked", series);
    }

    /// <summary>Synchronous <see cref="IProgress{T}"/> (System.Progress posts to the thread pool).</summary>
    private sealed class Progress(Action<int> report) : IProgress<int>
    {
        public void Report(int value) => report(value);
    }
}
