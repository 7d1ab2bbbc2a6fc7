using TorchSharp;
using static TorchSharp.torch;

namespace CrateMae.Data;

/// <summary>
/// One batch from a <see cref="DataLoader"/>. The tensors live on the CPU and are owned by the batch (detached from any dispose
/// scope): dispose the batch when done, or move the tensors into a step's scope with <see cref="MoveToScope"/>.
/// </summary>
public sealed class Batch : IDisposable
{
    internal Batch(Tensor images, Tensor labels, int[] indices, int epoch, int step)
    {
        Images = images;
        Labels = labels;
        Indices = indices;
        Epoch = epoch;
        Step = step;
    }

    /// <summary>Images, float32 [B, C, S, S], normalised.</summary>
    public Tensor Images { get; }

    /// <summary>Labels, int64 [B]; −1 for unlabeled datasets.</summary>
    public Tensor Labels { get; }

    /// <summary>The dataset index of each sample.</summary>
    public int[] Indices { get; }

    /// <summary>Epoch this batch belongs to.</summary>
    public int Epoch { get; }

    /// <summary>Step (batch number) within the epoch, counting from 0.</summary>
    public int Step { get; }

    /// <summary>Number of samples B.</summary>
    public int Size => Indices.Length;

    /// <summary>Hands the tensors to <paramref name="scope"/> (they are then disposed with it, not by this batch).</summary>
    public void MoveToScope(DisposeScope scope)
    {
        ArgumentNullException.ThrowIfNull(scope);
        scope.Attach(Images);
        scope.Attach(Labels);
    }

    /// <summary>Disposes the tensors (no-op for tensors already disposed through a scope).</summary>
    public void Dispose()
    {
        if (!Images.IsInvalid) Images.Dispose();
        if (!Labels.IsInvalid) Labels.Dispose();
    }
}
