namespace CrateMae.Data;

/// <summary>Options for <see cref="DataLoader"/>.</summary>
public sealed record DataLoaderOptions
{
    /// <summary>Samples per batch (≥ 1). Default 64.</summary>
    public int BatchSize { get; init; } = 64;

    /// <summary>Shuffle the order every epoch (a pure function of <see cref="Seed"/> and the epoch). Default true.</summary>
    public bool Shuffle { get; init; } = true;

    /// <summary>Drop the last batch of an epoch when it is smaller than <see cref="BatchSize"/>. Default false.</summary>
    public bool DropLast { get; init; }

    /// <summary>Seed for the shuffle and for every augmentation decision.</summary>
    public ulong Seed { get; init; }

    /// <summary>Use only the first <c>Limit</c> dataset indices (for tests and quick runs); null = all.</summary>
    public int? Limit { get; init; }

    /// <summary>How many prepared batches may wait in the queue (1..16). Default 2.</summary>
    public int PrefetchBatches { get; init; } = 2;

    /// <summary>Threads decoding/augmenting the samples of one batch (1..64). Default 1: the model needs the other core.</summary>
    public int Workers { get; init; } = 1;

    /// <summary>Checks the values.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Naming the option that is out of range.</exception>
    public void Validate()
    {
        if (BatchSize < 1)
            throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, "DataLoaderOptions.BatchSize must be at least 1.");
        if (Limit is < 1)
            throw new ArgumentOutOfRangeException(nameof(Limit), Limit, "DataLoaderOptions.Limit must be at least 1 (or null for all).");
        if (PrefetchBatches is < 1 or > 16)
            throw new ArgumentOutOfRangeException(nameof(PrefetchBatches), PrefetchBatches, "DataLoaderOptions.PrefetchBatches must be in 1..16.");
        if (Workers is < 1 or > 64)
            throw new ArgumentOutOfRangeException(nameof(Workers), Workers, "DataLoaderOptions.Workers must be in 1..64.");
    }
}
