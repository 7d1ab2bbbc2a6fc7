using System.Buffers.Binary;
using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace CrateMae.Interop;

/// <summary>Moves raw tensor bytes between CPU tensors and streams in bounded chunks (no whole-file buffers).</summary>
internal static class TensorBytes
{
    private const int ChunkBytes = 1 << 24;

    /// <summary>
    /// Fills the 1-D contiguous CPU tensor <paramref name="flat"/> with exactly its byte size read from <paramref name="source"/>.
    /// Throws <see cref="InvalidDataException"/> naming <paramref name="what"/> if the stream ends early.
    /// When <paramref name="swapBytes"/> is set, every element is byte-reversed (big-endian file).
    /// </summary>
    public static void ReadInto(Tensor flat, Stream source, string what, bool swapBytes = false)
    {
        var elementSize = DTypes.ElementSize(flat.dtype);
        var count = flat.numel();
        long perChunk = Math.Max(1, ChunkBytes / elementSize);
        for (long start = 0; start < count; start += perChunk)
        {
            var n = Math.Min(perChunk, count - start);
            using var part = flat.narrow(0, start, n);
            var span = part.bytes;
            try
            {
                source.ReadExactly(span);
            }
            catch (EndOfStreamException)
            {
                throw new InvalidDataException($"{what}: data ends early (truncated file?).");
            }
            if (swapBytes) Swap(span, elementSize);
        }
    }

    /// <summary>
    /// Writes the bytes of a contiguous CPU tensor to <paramref name="write"/> in chunks.
    /// </summary>
    public static void WriteFrom(Tensor contiguous, Action<ReadOnlySpan<byte>> write)
    {
        if (!contiguous.is_contiguous() || contiguous.device_type != DeviceType.CPU)
            throw new ArgumentException("tensor must be a contiguous CPU tensor", nameof(contiguous));
        var elementSize = DTypes.ElementSize(contiguous.dtype);
        var count = contiguous.numel();
        if (count == 0) return;
        using var flat = contiguous.reshape(-1);
        long perChunk = Math.Max(1, ChunkBytes / elementSize);
        for (long start = 0; start < count; start += perChunk)
        {
            var n = Math.Min(perChunk, count - start);
            using var part = flat.narrow(0, start, n);
            write(part.bytes);
        }
    }

    private static void Swap(Span<byte> span, int elementSize)
    {
        switch (elementSize)
        {
            case 2: BinaryPrimitives.ReverseEndianness(MemoryMarshal.Cast<byte, ushort>(span), MemoryMarshal.Cast<byte, ushort>(span)); break;
            case 4: BinaryPrimitives.ReverseEndianness(MemoryMarshal.Cast<byte, uint>(span), MemoryMarshal.Cast<byte, uint>(span)); break;
            case 8: BinaryPrimitives.ReverseEndianness(MemoryMarshal.Cast<byte, ulong>(span), MemoryMarshal.Cast<byte, ulong>(span)); break;
        }
    }
}
