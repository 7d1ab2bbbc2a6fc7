using CrateMae.Analysis;

namespace CrateMae.Reporting;

/// <summary>A named white-box report, one line of a layer-curve plot (e.g. "random init" vs "trained").</summary>
/// <param name="Name">Legend text.</param>
/// <param name="Report">The measurements.</param>
public sealed record ReportSeries(string Name, WhiteBoxReport Report);
