using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace CrateMae.Kernels;

/// <summary>
/// What the row kernels (<see cref="SoftmaxSimd"/>, <see cref="LayerNormSimd"/>, <see cref="FusedAttentionF32"/>) share:
/// raw data pointers of contiguous CPU tensors, the lane count of a vector width, scalar float32/bf16 access for row
/// tails (bf16 rounded to nearest-even on store), and splitting rows over libtorch's thread count (run on libtorch's
/// OpenMP team, <see cref="OpenMpTeam"/>).
/// </summary>
internal static unsafe class SimdTensor
{
    [DllImport("LibTorchSharp")]
    private static extern IntPtr THSTensor_data(IntPtr tensor);

    /// <summary>Float32 lanes of a vector of <paramref name="bits"/> bits (0 when the kernels are off).</summary>
    public static int LanesOf(int bits) => bits / 32;

    /// <summary>A contiguous, non-empty float32 or bf16 CPU tensor, and the kernels on (<paramref name="bits"/> ≠ 0).</summary>
    public static bool IsRowTensor(Tensor t, int bits) =>
        bits != 0 && t.device_type == DeviceType.CPU && (t.dtype == ScalarType.Float32 || t.dtype == ScalarType.BFloat16)
        && t.dim() >= 1 && t.numel() > 0 && t.is_contiguous();

    public static void* Pointer(Tensor t) => (void*)THSTensor_data(t.Handle);

    /// <summary>How many parts <see cref="Run(long, Action{int, long, long}, long)"/> splits <paramref name="rows"/> into: libtorch's thread count, at least <paramref name="minRowsPerPart"/> rows per part.</summary>
    public static int Parts(long rows, long minRowsPerPart = 64) => (int)Math.Clamp(rows / minRowsPerPart, 1, Math.Max(1, get_num_threads()));

    /// <summary>Runs <paramref name="body"/> over row ranges, split as <see cref="Parts"/> says.</summary>
    public static void Run(long rows, Action<long, long> body) => Run(rows, (_, r0, r1) => body(r0, r1));

    /// <summary>Runs <paramref name="body"/>(part, first row, end row) over the <see cref="Parts"/> row ranges.</summary>
    public static void Run(long rows, Action<int, long, long> body, long minRowsPerPart = 64)
    {
        int parts = Parts(rows, minRowsPerPart);
        long per = (rows + parts - 1) / parts;
        if (parts == 1) { body(0, 0, rows); return; }
        void Part(int k) => body(k, k * per, Math.Min(rows, (k + 1) * per));
        if (OpenMpTeam.Available) OpenMpTeam.Run(parts, Part);
        else Parallel.For(0, parts, new ParallelOptions { MaxDegreeOfParallelism = parts }, Part);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToFloat<T>(T v) where T : unmanaged =>
        typeof(T) == typeof(float) ? Unsafe.As<T, float>(ref v) : BitConverter.UInt32BitsToSingle((uint)Unsafe.As<T, ushort>(ref v) << 16);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreScalar<T>(T* p, float v) where T : unmanaged
    {
        if (typeof(T) == typeof(float)) { *(float*)p = v; return; }
        uint bits = BitConverter.SingleToUInt32Bits(v);
        *(ushort*)p = (ushort)((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);
    }
}
