namespace CrateMae.Data;

/// <summary>
/// A small deterministic random generator (SplitMix64) whose state is a pure function of
/// (seed, epoch, index, stream). Every sample of every epoch gets its own instance, so augmentations do not depend on thread
/// scheduling, batch composition or where a run was resumed. Not thread-safe (one instance per sample).
/// </summary>
public sealed class SampleRandom
{
    private ulong _state;

    /// <summary>Creates the generator for sample <paramref name="index"/> of <paramref name="epoch"/> under <paramref name="seed"/>.</summary>
    /// <param name="seed">Run seed.</param>
    /// <param name="epoch">Epoch number.</param>
    /// <param name="index">Dataset index of the sample (or another per-item key).</param>
    /// <param name="stream">Separates independent uses of the same (seed, epoch, index), e.g. augmentation vs. masking.</param>
    public SampleRandom(ulong seed, long epoch, long index, ulong stream = 0)
    {
        ulong h = Mix(seed + 0x9E3779B97F4A7C15UL);
        h = Mix(h ^ ((ulong)epoch * 0xD1B54A32D192ED03UL) ^ 0xA0761D6478BD642FUL);
        h = Mix(h ^ ((ulong)index * 0xABC98388FB8FAC03UL) ^ 0xE7037ED1A0B428DBUL);
        _state = Mix(h ^ (stream * 0x8CB92BA72F3D8DD7UL) ^ 0x589965CC75374CC3UL);
    }

    /// <summary>The next 64 random bits.</summary>
    public ulong NextUInt64()
    {
        ulong z = _state += 0x9E3779B97F4A7C15UL;
        return Mix(z);
    }

    /// <summary>A uniform double in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>A uniform double in [<paramref name="min"/>, <paramref name="max"/>).</summary>
    public double NextDouble(double min, double max) => min + ((max - min) * NextDouble());

    /// <summary>A uniform integer in [0, <paramref name="maxExclusive"/>).</summary>
    /// <exception cref="ArgumentOutOfRangeException">When <paramref name="maxExclusive"/> ≤ 0.</exception>
    public int NextInt(int maxExclusive)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxExclusive);
        return (int)(((UInt128)NextUInt64() * (ulong)maxExclusive) >> 64);
    }

    /// <summary>A uniform integer in [<paramref name="minInclusive"/>, <paramref name="maxExclusive"/>).</summary>
    /// <exception cref="ArgumentOutOfRangeException">When the range is empty.</exception>
    public int NextInt(int minInclusive, int maxExclusive)
    {
        if (maxExclusive <= minInclusive)
            throw new ArgumentOutOfRangeException(nameof(maxExclusive), $"Empty range [{minInclusive}, {maxExclusive}).");
        return minInclusive + NextInt(maxExclusive - minInclusive);
    }

    /// <summary>Fisher–Yates shuffles <paramref name="items"/> in place.</summary>
    public void Shuffle<T>(Span<T> items)
    {
        for (int i = items.Length - 1; i > 0; i--)
        {
            int j = NextInt(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }

    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
