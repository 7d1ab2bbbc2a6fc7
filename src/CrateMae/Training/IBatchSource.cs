using static TorchSharp.torch;

namespace CrateMae.Training;

/// <summary>
/// Batches of normalised images for one epoch. Implementations must be deterministic in (epoch, step): a resumed run
/// that asks for <c>Epoch(e, startStep: s)</c> must see exactly the batches an uninterrupted run saw from step s on.
/// </summary>
public interface IBatchSource
{
    /// <summary>Optimizer-independent steps (batches) per epoch.</summary>
    int StepsPerEpoch { get; }

    /// <summary>Images per batch.</summary>
    int BatchSize { get; }

    /// <summary>The batches of epoch <paramref name="epoch"/> from step <paramref name="startStep"/>: images [B, C, S, S] float32, labels [B] int64 (−1 when unlabeled).</summary>
    IEnumerable<(Tensor Images, Tensor Labels)> Epoch(int epoch, int startStep, CancellationToken cancellationToken);
}
