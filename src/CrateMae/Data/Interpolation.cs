namespace CrateMae.Data;

/// <summary>Resampling filter for <see cref="Resize"/> and <see cref="RandomResizedCrop"/>.</summary>
public enum Interpolation
{
    /// <summary>Bilinear (triangle filter); with antialiasing like PIL/torchvision <c>antialias=True</c>.</summary>
    Bilinear,

    /// <summary>Bicubic (Keys cubic, a = −0.5 as in PIL, which MAE's <c>interpolation=3</c> uses).</summary>
    Bicubic,
}
