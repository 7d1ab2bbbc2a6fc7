using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using TorchSharp;

namespace CrateMae.Data;

/// <summary>
/// Turns an <see cref="IImageDataset"/> plus a <see cref="TransformPipeline"/> into batches
/// (<c>images [B,C,S,S] float32</c>, <c>labels [B] int64</c>, dataset indices).
/// </summary>
/// <remarks>
/// <para>Determinism: the order of epoch e is a pure function of (seed, e), and the augmentation of a sample a pure function of
/// (seed, e, dataset index), so <c>Epoch(e, startStep: s)</c> yields exactly the batches an uninterrupted epoch yields from step s
/// on, whatever the number of workers.</para>
/// <para>Threading: a background task prepares the next batches (decode + transform, <see cref="DataLoaderOptions.Workers"/> threads
/// per batch) into float buffers, at most <see cref="DataLoaderOptions.PrefetchBatches"/> ahead. The tensors are created on the
/// consuming thread. Leaving a <c>foreach</c> early, cancelling the token, or disposing the loader stops the workers.</para>
/// </remarks>
public sealed class DataLoader : IDisposable
{
    private readonly IImageDataset _dataset;
    private readonly CancellationTokenSource _disposed = new();
    private readonly ConcurrentBag<float[]> _bufferPool = new();
    private readonly object _producersLock = new();
    private readonly HashSet<Task> _producers = [];

    /// <summary>Creates a loader.</summary>
    /// <exception cref="ArgumentException">When the options are invalid or the dataset is empty.</exception>
    public DataLoader(IImageDataset dataset, TransformPipeline transform, DataLoaderOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentNullException.ThrowIfNull(transform);
        options ??= new DataLoaderOptions();
        options.Validate();
        if (dataset.Count == 0)
            throw new ArgumentException($"DataLoader: dataset '{dataset.Name}' is empty.", nameof(dataset));
        _dataset = dataset;
        Transform = transform;
        Options = options;
        Count = Math.Min(dataset.Count, options.Limit ?? int.MaxValue);
        int full = Count / options.BatchSize;
        StepsPerEpoch = options.DropLast || Count % options.BatchSize == 0 ? full : full + 1;
    }

    /// <summary>The dataset.</summary>
    public IImageDataset Dataset => _dataset;

    /// <summary>The per-sample transform.</summary>
    public TransformPipeline Transform { get; }

    /// <summary>The options.</summary>
    public DataLoaderOptions Options { get; }

    /// <summary>Number of samples used per epoch (dataset count, capped by <see cref="DataLoaderOptions.Limit"/>).</summary>
    public int Count { get; }

    /// <summary>Number of batches per epoch (may be 0 with DropLast and Count &lt; BatchSize).</summary>
    public int StepsPerEpoch { get; }

    /// <summary>The dataset indices of <paramref name="epoch"/> in the order they are served (a pure function of seed and epoch).</summary>
    /// <exception cref="ArgumentOutOfRangeException">When <paramref name="epoch"/> is negative.</exception>
    public int[] GetEpochOrder(int epoch)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(epoch);
        var order = new int[Count];
        for (int i = 0; i < order.Length; i++) order[i] = i;
        if (Options.Shuffle) new SampleRandom(Options.Seed, epoch, -1, stream: 0x5348554646UL).Shuffle(order.AsSpan());
        return order;
    }

    /// <summary>The transformed sample (C·S·S floats, CHW) of dataset index <paramref name="index"/> in <paramref name="epoch"/>.</summary>
    public FloatImage GetSample(int epoch, int index) => Transform.Apply(_dataset.ReadImage(index), Options.Seed, epoch, index);

    /// <summary>
    /// Enumerates the batches of <paramref name="epoch"/> from step <paramref name="startStep"/> on (resuming at step s gives exactly the
    /// batches s, s+1, … of an uninterrupted epoch). Each <see cref="Batch"/> must be disposed by the caller.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">When epoch is negative or startStep is outside [0, StepsPerEpoch].</exception>
    /// <exception cref="OperationCanceledException">While enumerating, when <paramref name="cancellationToken"/> is cancelled or the loader is disposed.</exception>
    /// <exception cref="InvalidDataException">While enumerating, when a sample cannot be decoded (the message names the file).</exception>
    public IEnumerable<Batch> Epoch(int epoch, int startStep = 0, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(epoch);
        if (startStep < 0 || startStep > StepsPerEpoch)
            throw new ArgumentOutOfRangeException(nameof(startStep), startStep, $"DataLoader.Epoch: startStep must be in [0, {StepsPerEpoch}].");
        ObjectDisposedException.ThrowIf(_disposed.IsCancellationRequested, this);
        return EpochIterator(epoch, startStep, cancellationToken);
    }

    /// <summary>Stops all workers (running enumerations then throw <see cref="OperationCanceledException"/>) and waits for them briefly.</summary>
    public void Dispose()
    {
        if (_disposed.IsCancellationRequested) return;
        _disposed.Cancel();
        Task[] running;
        lock (_producersLock) running = _producers.ToArray();
        try
        {
            Task.WaitAll(running, TimeSpan.FromSeconds(10));
        }
        catch (AggregateException)
        {
            // Worker failures were (or would have been) reported to the enumerating thread.
        }
        _bufferPool.Clear();
    }

    private IEnumerable<Batch> EpochIterator(int epoch, int startStep, CancellationToken cancellationToken)
    {
        if (startStep >= StepsPerEpoch) yield break;
        var order = GetEpochOrder(epoch);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposed.Token);
        var token = linked.Token;
        using var queue = new BlockingCollection<HostBatch>(Options.PrefetchBatches);
        var failure = new StrongBox<Exception?>();
        var producer = Task.Factory.StartNew(() => Produce(order, epoch, startStep, queue, failure, token), CancellationToken.None,
                                             TaskCreationOptions.LongRunning, TaskScheduler.Default);
        lock (_producersLock) _producers.Add(producer);
        try
        {
            foreach (var host in queue.GetConsumingEnumerable(token))
            {
                Batch batch;
                try
                {
                    batch = ToBatch(host, epoch);
                }
                finally
                {
                    ReturnBuffer(host.Images);
                }
                yield return batch;
            }
            // The queue completed: either all batches were produced, the producer failed, or we were cancelled.
            token.ThrowIfCancellationRequested();
            if (failure.Value is { } error)
                ExceptionDispatchInfo.Capture(error).Throw();
        }
        finally
        {
            linked.Cancel();
            try
            {
                producer.Wait(TimeSpan.FromSeconds(30));
            }
            catch (AggregateException)
            {
                // Produce records its failures in 'failure'; nothing else to report.
            }
            lock (_producersLock) _producers.Remove(producer);
        }
    }

    private void Produce(int[] order, int epoch, int startStep, BlockingCollection<HostBatch> queue, StrongBox<Exception?> failure,
                         CancellationToken token)
    {
        try
        {
            int sampleLength = Transform.OutputLength;
            var parallel = new ParallelOptions { MaxDegreeOfParallelism = Options.Workers, CancellationToken = token };
            for (int step = startStep; step < StepsPerEpoch; step++)
            {
                token.ThrowIfCancellationRequested();
                int begin = step * Options.BatchSize;
                int size = Math.Min(Options.BatchSize, order.Length - begin);
                var indices = order.AsSpan(begin, size).ToArray();
                var images = RentBuffer(size * sampleLength);
                var labels = new long[size];
                if (Options.Workers == 1)
                {
                    for (int i = 0; i < size; i++) PrepareSample(indices, i, images, labels, epoch, sampleLength);
                }
                else
                {
                    Parallel.For(0, size, parallel, i => PrepareSample(indices, i, images, labels, epoch, sampleLength));
                }
                queue.Add(new HostBatch(step, indices, images, labels), token);
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            // The consumer stopped, the caller cancelled, or the loader was disposed.
        }
        catch (AggregateException e)
        {
            var flat = e.Flatten();
            failure.Value = flat.InnerExceptions.Count == 1 ? flat.InnerExceptions[0] : flat;
        }
        catch (Exception e)
        {
            failure.Value = e;
        }
        finally
        {
            // Publishes 'failure' to the consumer: it reads it only after the queue reports completion.
            queue.CompleteAdding();
        }
    }

    private void PrepareSample(int[] indices, int i, float[] images, long[] labels, int epoch, int sampleLength)
    {
        int index = indices[i];
        var sample = _dataset.ReadImage(index);
        var output = images.AsSpan(i * sampleLength, sampleLength);
        string Where() => $"{_dataset.Name}: sample {index}{(_dataset is ImageFolder f ? $" ('{f.Files[index]}')" : "")}";
        try
        {
            Transform.ApplyTo(sample, new SampleRandom(Options.Seed, epoch, index), output);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{Where()}: {e.Message}", e);
        }
        if (!AllFinite(output))
            throw new InvalidDataException($"{Where()} contains NaN or Inf after the transforms (check the normalisation statistics and custom transforms).");
        labels[i] = _dataset.GetLabel(index);
    }

    private static bool AllFinite(ReadOnlySpan<float> values)
    {
        // x - x is 0 for finite x and NaN for NaN/±Inf; summing keeps the loop branch-free and vectorisable.
        float acc = 0;
        foreach (var v in values) acc += v - v;
        return acc == 0;
    }

    /// <summary>Full-batch buffers are recycled (at most PrefetchBatches + 2 exist); a smaller last batch gets a fresh array.</summary>
    private float[] RentBuffer(int length)
    {
        if (length == Options.BatchSize * Transform.OutputLength && _bufferPool.TryTake(out var buffer)) return buffer;
        return new float[length];
    }

    private void ReturnBuffer(float[] buffer)
    {
        if (buffer.Length == Options.BatchSize * Transform.OutputLength && _bufferPool.Count < Options.PrefetchBatches + 2)
            _bufferPool.Add(buffer);
    }

    private Batch ToBatch(HostBatch host, int epoch)
    {
        int b = host.Indices.Length, c = Transform.Channels, s = Transform.Size;
        // Copied into libtorch-owned memory. torch.tensor(float[]) would instead pin a fresh managed copy (on the large
        // object heap for any real batch) until the tensor dies, and that garbage is only reclaimed by a full GC, so RSS
        // would grow by about one batch per step over a long run.
        var images = torch.empty(new long[] { b, c, s, s }, torch.ScalarType.Float32).DetachFromDisposeScope();
        images.data<float>().CopyFrom(host.Images);
        var labels = torch.empty(new long[] { b }, torch.ScalarType.Int64).DetachFromDisposeScope();
        labels.data<long>().CopyFrom(host.Labels);
        return new Batch(images, labels, host.Indices, epoch, host.Step);
    }

    private sealed record HostBatch(int Step, int[] Indices, float[] Images, long[] Labels);
}
