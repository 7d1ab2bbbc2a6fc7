namespace CrateMae.Reporting;

/// <summary>One named series for <see cref="Plots.SaveErrorBarPlot"/>: mean ± std at each x (e.g. per layer).</summary>
/// <param name="Name">Legend text.</param>
/// <param name="X">X values (e.g. layer index).</param>
/// <param name="Mean">Mean at each x.</param>
/// <param name="Std">Standard deviation at each x (drawn as ± error bars).</param>
public sealed record ErrorBarSeries(string Name, IReadOnlyList<double> X, IReadOnlyList<double> Mean, IReadOnlyList<double> Std)
{
    /// <summary>Marker at the means; null (default) = a different shape per series (circle, square, triangle, …).</summary>
    public ScottPlot.MarkerShape? Marker { get; init; }
}
