using CrateMae.Data;
using static TorchSharp.torch;

namespace CrateMae.Training;

/// <summary>Adapts the prefetching <see cref="DataLoader"/> to <see cref="IBatchSource"/>.</summary>
public sealed class LoaderBatchSource(DataLoader loader) : IBatchSource, IDisposable
{
    public DataLoader Loader { get; } = loader;
    public int StepsPerEpoch => Loader.StepsPerEpoch;
    public int BatchSize => Loader.Options.BatchSize;

    public IEnumerable<(Tensor Images, Tensor Labels)> Epoch(int epoch, int startStep, CancellationToken cancellationToken)
    {
        foreach (var batch in Loader.Epoch(epoch, startStep, cancellationToken))
            yield return (batch.Images, batch.Labels);    // ownership passes to the caller
    }

    public void Dispose() => Loader.Dispose();
}
