using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace CrateMae.Kernels;

/// <summary>
/// A float32 vector of <see cref="Lanes"/> lanes: the operations the kernels use, so that each kernel is written once
/// as a generic method over <c>TVec : struct, IVec&lt;TVec&gt;</c> and the JIT compiles one specialisation per width
/// (<see cref="V128"/>, <see cref="V256"/>, <see cref="V512"/>: SSE/NEON, AVX2, AVX-512 on the CPUs that have them).
/// Masks are vectors whose lanes are all ones (true) or all zeros (false). bf16 values are the upper 16 bits of a
/// float32: widened by a shift, narrowed with rounding to nearest-even (as libtorch rounds). Where AVX-512 is present the
/// 16-bit widening and narrowing use its single-instruction conversions (<c>vpmovzxwd</c> from memory, <c>vpmovdw</c>);
/// the portable <c>Widen</c>/<c>Narrow</c> forms compute the same lanes elsewhere.
/// </summary>
internal unsafe interface IVec<TSelf> where TSelf : struct, IVec<TSelf>
{
    /// <summary>Float32 lanes per vector.</summary>
    static abstract int Lanes { get; }

    static abstract TSelf Zero { get; }

    /// <summary>0, 1, 2, … in the lanes.</summary>
    static abstract TSelf Indices { get; }

    static abstract TSelf Create(float value);

    static abstract TSelf Load(float* p);

    static abstract void Store(TSelf v, float* p);

    /// <summary>Lanes bf16 values widened to float32.</summary>
    static abstract TSelf LoadBf16(ushort* p);

    /// <summary>The lanes rounded to bf16, nearest-even.</summary>
    static abstract void StoreBf16(TSelf v, ushort* p);

    static abstract TSelf operator +(TSelf a, TSelf b);

    static abstract TSelf operator -(TSelf a, TSelf b);

    static abstract TSelf operator *(TSelf a, TSelf b);

    /// <summary>a·b + c.</summary>
    static abstract TSelf Fma(TSelf a, TSelf b, TSelf c);

    /// <summary>The larger of a and b; where either is NaN, b (the hardware's own max: x86 <c>maxps</c> returns its second operand, ARM's <c>fmax</c> NaN).</summary>
    static abstract TSelf Max(TSelf a, TSelf b);

    /// <summary>Nearest integer, ties to even.</summary>
    static abstract TSelf Round(TSelf v);

    /// <summary>v·2^k for integral k (in float32 lanes) whose result is a normal number: k added to the exponent bits.</summary>
    static abstract TSelf ScaleByPowerOfTwo(TSelf v, TSelf k);

    static abstract TSelf LessThan(TSelf a, TSelf b);

    /// <summary>a where the mask is set, b elsewhere.</summary>
    static abstract TSelf Select(TSelf mask, TSelf a, TSelf b);

    static abstract float Sum(TSelf v);

    static abstract float HorizontalMax(TSelf v);

    static abstract float First(TSelf v);
}

/// <summary>Helpers over <see cref="IVec{TSelf}"/> shared by the kernels.</summary>
internal static unsafe class Vec
{
    /// <summary>Lanes 0 … <paramref name="rem"/> − 1 set: the valid part of a row's partial last vector.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVec TailMask<TVec>(int rem) where TVec : struct, IVec<TVec> => TVec.LessThan(TVec.Indices, TVec.Create(rem));

    /// <summary>
    /// e^x for x ≤ 0 (a row minus its maximum), as 2^(x·log₂e): a degree-6 polynomial for 2^f on the fraction
    /// f ∈ [−½, ½] and the integer part k added to the exponent (relative error ≈ 1e-7, below the float32 rounding of the
    /// sums). x is clamped at −87 so that 2^k stays a normal number; NaN stays NaN (it is the second operand of Max).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVec Exp<TVec>(TVec x) where TVec : struct, IVec<TVec>
    {
        var t = TVec.Max(TVec.Create(-87.0f), x) * TVec.Create(1.44269504088896341f);   // x·log₂e
        var k = TVec.Round(t);                                                            // nearest integer
        var f = t - k;                                                                    // [−½, ½]
        var p = TVec.Create(1.5403530393381609e-4f);                                      // 2^f, Taylor to f⁶
        p = TVec.Fma(p, f, TVec.Create(1.3333558146428443e-3f));
        p = TVec.Fma(p, f, TVec.Create(9.6181291076284772e-3f));
        p = TVec.Fma(p, f, TVec.Create(5.5504108664821580e-2f));
        p = TVec.Fma(p, f, TVec.Create(2.4022650695910071e-1f));
        p = TVec.Fma(p, f, TVec.Create(6.9314718055994531e-1f));
        p = TVec.Fma(p, f, TVec.Create(1.0f));
        return TVec.ScaleByPowerOfTwo(p, k);                                              // · 2^k
    }

    /// <summary>Loads Lanes float32 or bf16 values as float32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVec Load<T, TVec>(T* p) where T : unmanaged where TVec : struct, IVec<TVec> =>
        typeof(T) == typeof(float) ? TVec.Load((float*)p) : TVec.LoadBf16((ushort*)p);

    /// <summary>Stores Lanes values as float32 or as bf16 (rounded to nearest-even).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store<T, TVec>(T* p, TVec v) where T : unmanaged where TVec : struct, IVec<TVec>
    {
        if (typeof(T) == typeof(float)) TVec.Store(v, (float*)p);
        else TVec.StoreBf16(v, (ushort*)p);
    }
}

/// <summary>Rounds float32 bit patterns to bf16 (nearest-even) in the low 16 bits of each lane.</summary>
internal static class Bf16Bits
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<uint> Round(Vector128<uint> bits) => (bits + Vector128.Create(0x7FFFu) + ((bits >> 16) & Vector128<uint>.One)) >> 16;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<uint> Round(Vector256<uint> bits) => (bits + Vector256.Create(0x7FFFu) + ((bits >> 16) & Vector256<uint>.One)) >> 16;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<uint> Round(Vector512<uint> bits) => (bits + Vector512.Create(0x7FFFu) + ((bits >> 16) & Vector512<uint>.One)) >> 16;

    /// <summary>The portable widening of 8 bf16 values (the AVX2 form is <c>vpmovzxwd</c>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<uint> Widen(Vector128<ushort> v) => Vector256.WidenLower(v.ToVector256Unsafe());

    /// <summary>The portable widening of 16 bf16 values (the AVX-512 form is <c>vpmovzxwd</c>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<uint> Widen(Vector256<ushort> v) => Vector512.WidenLower(v.ToVector512Unsafe());

    /// <summary>The portable narrowing of 8 lanes to their low 16 bits (the AVX-512 form is <c>vpmovdw</c>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<ushort> Narrow(Vector256<uint> v) => Vector128.Narrow(v.GetLower(), v.GetUpper());

    /// <summary>The portable narrowing of 16 lanes to their low 16 bits (the AVX-512 form is <c>vpmovdw</c>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<ushort> Narrow(Vector512<uint> v) => Vector256.Narrow(v.GetLower(), v.GetUpper());
}

/// <summary>Four float32 lanes (SSE, NEON).</summary>
internal readonly unsafe struct V128(Vector128<float> v) : IVec<V128>
{
    private readonly Vector128<float> _v = v;

    public static int Lanes => Vector128<float>.Count;
    public static V128 Zero => new(Vector128<float>.Zero);
    public static V128 Indices => new(Vector128<float>.Indices);

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V128 Create(float value) => new(Vector128.Create(value));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V128 Load(float* p) => new(Vector128.Load(p));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(V128 v, float* p) => v._v.Store(p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V128 LoadBf16(ushort* p) =>
        new(Vector128.ShiftLeft(Vector128.WidenLower(Vector128.CreateScalarUnsafe(*(ulong*)p).AsUInt16()), 16).AsSingle());

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreBf16(V128 v, ushort* p)
    {
        var r = Bf16Bits.Round(v._v.AsUInt32());
        *(ulong*)p = Vector128.Narrow(r, r).AsUInt64().ToScalar();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V128 operator +(V128 a, V128 b) => new(a._v + b._v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V128 operator -(V128 a, V128 b) => new(a._v - b._v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V128 operator *(V128 a, V128 b) => new(a._v * b._v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V128 Fma(V128 a, V128 b, V128 c) => new(Vector128.FusedMultiplyAdd(a._v, b._v, c._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V128 Max(V128 a, V128 b) => new(Vector128.MaxNative(a._v, b._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V128 Round(V128 v) => new(Vector128.Round(v._v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V128 ScaleByPowerOfTwo(V128 v, V128 k) =>
        new((v._v.AsInt32() + (Vector128.ConvertToInt32Native(k._v) << 23)).AsSingle());

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V128 LessThan(V128 a, V128 b) => new(Vector128.LessThan(a._v, b._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V128 Select(V128 mask, V128 a, V128 b) => new(Vector128.ConditionalSelect(mask._v, a._v, b._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(V128 v) => Vector128.Sum(v._v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float First(V128 v) => v._v.ToScalar();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float HorizontalMax(V128 v) => Max4(v._v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float Max4(Vector128<float> b)
    {
        b = Vector128.MaxNative(b, Vector128.Shuffle(b, Vector128.Create(2, 3, 0, 1)));
        b = Vector128.MaxNative(b, Vector128.Shuffle(b, Vector128.Create(1, 0, 3, 2)));
        return b.ToScalar();
    }
}

/// <summary>Eight float32 lanes (AVX2).</summary>
internal readonly unsafe struct V256(Vector256<float> v) : IVec<V256>
{
    private readonly Vector256<float> _v = v;

    public static int Lanes => Vector256<float>.Count;
    public static V256 Zero => new(Vector256<float>.Zero);
    public static V256 Indices => new(Vector256<float>.Indices);

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 Create(float value) => new(Vector256.Create(value));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 Load(float* p) => new(Vector256.Load(p));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(V256 v, float* p) => v._v.Store(p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V256 LoadBf16(ushort* p)
    {
        var wide = Avx2.IsSupported ? Avx2.ConvertToVector256Int32(p).AsUInt32() : Bf16Bits.Widen(Vector128.Load(p));
        return new(Vector256.ShiftLeft(wide, 16).AsSingle());
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreBf16(V256 v, ushort* p)
    {
        var r = Bf16Bits.Round(v._v.AsUInt32());
        if (Avx512F.VL.IsSupported) Avx512F.VL.ConvertToVector128UInt16(r).Store(p);
        else Bf16Bits.Narrow(r).Store(p);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 operator +(V256 a, V256 b) => new(a._v + b._v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 operator -(V256 a, V256 b) => new(a._v - b._v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 operator *(V256 a, V256 b) => new(a._v * b._v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 Fma(V256 a, V256 b, V256 c) => new(Vector256.FusedMultiplyAdd(a._v, b._v, c._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 Max(V256 a, V256 b) => new(Vector256.MaxNative(a._v, b._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 Round(V256 v) => new(Vector256.Round(v._v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V256 ScaleByPowerOfTwo(V256 v, V256 k) =>
        new((v._v.AsInt32() + (Vector256.ConvertToInt32Native(k._v) << 23)).AsSingle());

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 LessThan(V256 a, V256 b) => new(Vector256.LessThan(a._v, b._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 Select(V256 mask, V256 a, V256 b) => new(Vector256.ConditionalSelect(mask._v, a._v, b._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(V256 v) => Vector256.Sum(v._v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float First(V256 v) => v._v.ToScalar();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float HorizontalMax(V256 v) => V128.Max4(Vector128.MaxNative(v._v.GetLower(), v._v.GetUpper()));
}

/// <summary>Sixteen float32 lanes (AVX-512).</summary>
internal readonly unsafe struct V512(Vector512<float> v) : IVec<V512>
{
    private readonly Vector512<float> _v = v;

    public static int Lanes => Vector512<float>.Count;
    public static V512 Zero => new(Vector512<float>.Zero);
    public static V512 Indices => new(Vector512<float>.Indices);

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 Create(float value) => new(Vector512.Create(value));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 Load(float* p) => new(Vector512.Load(p));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(V512 v, float* p) => v._v.Store(p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V512 LoadBf16(ushort* p)
    {
        var wide = Avx512F.IsSupported ? Avx512F.ConvertToVector512UInt32(Vector256.Load(p)) : Bf16Bits.Widen(Vector256.Load(p));
        return new(Vector512.ShiftLeft(wide, 16).AsSingle());
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreBf16(V512 v, ushort* p)
    {
        var r = Bf16Bits.Round(v._v.AsUInt32());
        if (Avx512F.IsSupported) Avx512F.ConvertToVector256UInt16(r).Store(p);
        else Bf16Bits.Narrow(r).Store(p);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 operator +(V512 a, V512 b) => new(a._v + b._v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 operator -(V512 a, V512 b) => new(a._v - b._v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 operator *(V512 a, V512 b) => new(a._v * b._v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 Fma(V512 a, V512 b, V512 c) => new(Vector512.FusedMultiplyAdd(a._v, b._v, c._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 Max(V512 a, V512 b) => new(Vector512.MaxNative(a._v, b._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 Round(V512 v) => new(Vector512.Round(v._v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V512 ScaleByPowerOfTwo(V512 v, V512 k) =>
        new((v._v.AsInt32() + (Vector512.ConvertToInt32Native(k._v) << 23)).AsSingle());

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 LessThan(V512 a, V512 b) => new(Vector512.LessThan(a._v, b._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 Select(V512 mask, V512 a, V512 b) => new(Vector512.ConditionalSelect(mask._v, a._v, b._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(V512 v) => Vector512.Sum(v._v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float First(V512 v) => v._v.ToScalar();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float HorizontalMax(V512 v)
    {
        var a = Vector256.MaxNative(v._v.GetLower(), v._v.GetUpper());
        return V128.Max4(Vector128.MaxNative(a.GetLower(), a.GetUpper()));
    }
}
