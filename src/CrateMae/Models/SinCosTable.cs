using static TorchSharp.torch;

namespace CrateMae.Models;

/// <summary>Fixed 2-D sin-cos positional table with a zero cls row (spec §2.3), as MAE's <c>get_2d_sincos_pos_embed</c>.</summary>
public static class SinCosTable
{
    /// <summary>A (1, 1 + g², dim) float32 table. Columns [0, dim/2) encode the grid column, [dim/2, dim) the grid row.</summary>
    public static Tensor Create(int dim, int gridSize)
    {
        if (dim % 4 != 0) throw new ArgumentException($"sin-cos table width {dim} must be a multiple of 4");
        int q = dim / 4;
        using var scope = NewDisposeScope();
        // Evaluated in float32 like the reference: ω_k = 1 / 10000^(k/Q).
        var omega = 1.0f / pow(10000.0f, arange(q, dtype: ScalarType.Float32) / (float)q);    // [Q]
        var coords = arange(gridSize, dtype: ScalarType.Float32);                              // [g]
        var row = coords.repeat_interleave(gridSize);                                          // i = t div g
        var col = coords.repeat(gridSize);                                                     // j = t mod g
        Tensor Half(Tensor pos)
        {
            var arg = pos.unsqueeze(1) * omega.unsqueeze(0);                                  // [L, Q]
            return cat([arg.sin(), arg.cos()], 1);                                             // [L, 2Q]
        }
        var patches = cat([Half(col), Half(row)], 1);                                          // [L, D]
        var table = cat([zeros(1, dim), patches], 0).unsqueeze(0);                             // [1, N, D]
        return table.contiguous().MoveToOuterDisposeScope();
    }
}
