namespace CrateMae.Reporting;

/// <summary>One named line for <see cref="Plots.SaveLinePlot"/>; points with a non-finite x or y are left out.</summary>
/// <param name="Name">Legend text.</param>
/// <param name="X">X values (e.g. step or epoch).</param>
/// <param name="Y">Y values (same length as <paramref name="X"/>).</param>
public sealed record LineSeries(string Name, IReadOnlyList<double> X, IReadOnlyList<double> Y)
{
    /// <summary>Draw a marker at every point (useful for sparse series such as per-epoch test loss).</summary>
    public bool ShowMarkers { get; init; }

    /// <summary>Line width in pixels (0 = markers only).</summary>
    public float LineWidth { get; init; } = 1.5f;
}
