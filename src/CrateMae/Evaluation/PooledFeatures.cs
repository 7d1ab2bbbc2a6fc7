using static TorchSharp.torch;

namespace CrateMae.Evaluation;

/// <summary>
/// Frozen-encoder features of one dataset split in every pooling (one forward pass gives all three): cls token and mean
/// of the patch tokens, each [n, D], and the quadrant means [n, 4D], float32 on the CPU, with labels [n] int64 (−1 for
/// unlabeled images).
/// Owns its tensors (detached from any dispose scope); dispose it when done.
/// </summary>
public sealed class PooledFeatures : IDisposable
{
    public PooledFeatures(Tensor cls, Tensor mean, Tensor grid, Tensor labels)
    {
        ArgumentNullException.ThrowIfNull(cls);
        ArgumentNullException.ThrowIfNull(mean);
        ArgumentNullException.ThrowIfNull(grid);
        ArgumentNullException.ThrowIfNull(labels);
        if (cls.dim() != 2 || !cls.shape.SequenceEqual(mean.shape) || grid.dim() != 2 || grid.shape[0] != cls.shape[0]
            || grid.shape[1] != 4 * cls.shape[1] || labels.dim() != 1 || labels.shape[0] != cls.shape[0])
            throw new ArgumentException($"features must be cls [n, D], mean [n, D], grid [n, 4D] and labels [n]; got [{string.Join(", ", cls.shape)}], " +
                                        $"[{string.Join(", ", mean.shape)}], [{string.Join(", ", grid.shape)}] and [{string.Join(", ", labels.shape)}]");
        Cls = cls.DetachFromDisposeScope();
        Mean = mean.DetachFromDisposeScope();
        Grid = grid.DetachFromDisposeScope();
        Labels = labels.DetachFromDisposeScope();
    }

    /// <summary>cls-token features [n, D].</summary>
    public Tensor Cls { get; }

    /// <summary>Mean of the patch tokens [n, D] (cls excluded).</summary>
    public Tensor Mean { get; }

    /// <summary>Quadrant means of the patch tokens [n, 4D] (<see cref="Pooling.Grid"/>).</summary>
    public Tensor Grid { get; }

    /// <summary>Labels [n] int64; −1 where the dataset has none.</summary>
    public Tensor Labels { get; }

    public long Count => Labels.shape[0];
    public long FeatureDim => Cls.shape[1];

    /// <summary>The features of one pooling (a view owned by this instance; do not dispose it).</summary>
    public Tensor Get(Pooling pooling) => pooling switch
    {
        Pooling.Cls => Cls,
        Pooling.Mean => Mean,
        Pooling.Grid => Grid,
        _ => throw new ArgumentOutOfRangeException(nameof(pooling), pooling, "pooling must be Cls, Mean or Grid"),
    };

    public void Dispose()
    {
        Cls.Dispose();
        Mean.Dispose();
        Grid.Dispose();
        Labels.Dispose();
    }
}
