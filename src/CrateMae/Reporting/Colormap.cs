namespace CrateMae.Reporting;

/// <summary>Colour maps for <see cref="Heatmap"/> (sampled from ScottPlot's implementations).</summary>
public enum Colormap
{
    /// <summary>Perceptually uniform blue–green–yellow (matplotlib default).</summary>
    Viridis,

    /// <summary>Black–red–yellow–white.</summary>
    Inferno,

    /// <summary>Black–purple–orange–white.</summary>
    Magma,

    /// <summary>Blue–purple–yellow.</summary>
    Plasma,

    /// <summary>Improved rainbow (Google Turbo).</summary>
    Turbo,

    /// <summary>Classic blue–cyan–yellow–red rainbow.</summary>
    Jet,

    /// <summary>Black to white.</summary>
    Gray,
}
