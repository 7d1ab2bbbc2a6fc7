using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using TorchSharp;
using static TorchSharp.torch;

namespace CrateMae.Models;

/// <summary>
/// What the AVX-512 row kernels (<see cref="SoftmaxSimd"/>, <see cref="LayerNormSimd"/>) share: raw data pointers of
/// contiguous CPU tensors, float32/bf16 vector loads and stores (bf16 widened on load, rounded to nearest-even on store),
/// and splitting rows over libtorch's thread count (run on libtorch's OpenMP team, <see cref="OpenMpTeam"/>).
/// </summary>
internal static unsafe class SimdTensor
{
    public const int Lanes = 16;

    [DllImport("LibTorchSharp")]
    private static extern IntPtr THSTensor_data(IntPtr tensor);

    /// <summary>False when the CPU lacks AVX-512 or <c>CRATE_MAE_SIMD=0</c>.</summary>
    private static readonly bool Available =
        Avx512F.IsSupported && Avx512BW.IsSupported && Environment.GetEnvironmentVariable("CRATE_MAE_SIMD") != "0";

    /// <summary>Whether the kernels run on this thread (else libtorch's ops): available, and not inside <see cref="Kernels.UseLibtorchKernels"/>.</summary>
    public static bool Enabled => Available && Kernels.SimdKernels;

    /// <summary>A contiguous, non-empty float32 or bf16 CPU tensor.</summary>
    public static bool IsRowTensor(Tensor t) =>
        Enabled && t.device_type == DeviceType.CPU && (t.dtype == ScalarType.Float32 || t.dtype == ScalarType.BFloat16)
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
    public static Vector512<float> Load<T>(T* p) where T : unmanaged =>
        typeof(T) == typeof(float)
            ? Vector512.Load((float*)p)
            : Vector512.ShiftLeft(Avx512F.ConvertToVector512UInt32(Vector256.Load((ushort*)p)), 16).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store<T>(T* p, Vector512<float> v) where T : unmanaged
    {
        if (typeof(T) == typeof(float)) { v.Store((float*)p); return; }
        var bits = v.AsUInt32();
        var rounded = (bits + Vector512.Create(0x7FFFu) + ((bits >> 16) & Vector512.Create(1u))) >> 16;   // nearest-even
        Avx512F.ConvertToVector256UInt16(rounded).Store((ushort*)p);
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
