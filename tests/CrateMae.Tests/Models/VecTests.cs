using System.Runtime.Intrinsics;
using CrateMae.Kernels;

namespace CrateMae.Tests.Models;

/// <summary>
/// The vector operations the kernels are written in (<see cref="IVec{TSelf}"/>), at 4, 8 and 16 lanes (a width the CPU
/// does not accelerate still computes, in software): the exponential's accuracy and NaN, bf16 widening and rounding
/// against the scalar forms, and the portable bf16 conversions against the ones the wrappers use on this CPU.
/// </summary>
public sealed unsafe class VecTests
{
    public static TheoryData<int> AllWidths() => new() { 128, 256, 512 };

    private static float[] Exp<TVec>(float[] xs) where TVec : struct, IVec<TVec>
    {
        int lanes = TVec.Lanes;
        var ys = new float[xs.Length];
        fixed (float* x = xs, y = ys)
            for (int i = 0; i + lanes <= xs.Length; i += lanes) TVec.Store(Vec.Exp(TVec.Load(x + i)), y + i);
        return ys;
    }

    private static float[] Exp(int bits, float[] xs) => bits switch { 512 => Exp<V512>(xs), 256 => Exp<V256>(xs), _ => Exp<V128>(xs) };

    [Theory]
    [MemberData(nameof(AllWidths))]
    public void Given_arguments_from_minus_87_to_0_When_exponentiated_Then_the_relative_error_is_that_of_float32_rounding(int bits)
    {
        // Given: 16,384 points over [−87, 0] (a whole number of vectors at every width)
        var xs = Enumerable.Range(0, 16384).Select(i => -87f * i / 16383).ToArray();

        // When
        var ys = Exp(bits, xs);

        // Then: the Taylor polynomial for 2^f on [−½, ½] and the exact power of two add at most 3e-7; the float32 product
        // x·log₂e is rounded by up to 2⁻²⁴|x·log₂e|, and log₂e itself by 2⁻²⁵ relative, so the result carries up to
        // (2⁻²⁴ + 2⁻²⁵)·|x| ≈ 9e-8·|x| more (the softmax's arguments are mostly near 0, where the first term dominates)
        double worst = xs.Zip(ys).Max(p => Math.Abs(p.Second - Math.Exp(p.First)) / Math.Exp(p.First) / (3e-7 + 9e-8 * Math.Abs(p.First)));
        Assert.True(worst <= 1, $"{bits}-bit exp: worst relative error {worst:F2} of the bound 3e-7 + 9e-8·|x|");
        double nearZero = xs.Zip(ys).Where(p => p.First > -1).Max(p => Math.Abs(p.Second - Math.Exp(p.First)) / Math.Exp(p.First));
        Assert.True(nearZero <= 3e-7, $"{bits}-bit exp on [−1, 0]: worst relative error {nearZero:E2}");
        Assert.Equal(1f, ys[0]);                // e^0
    }

    [Theory]
    [MemberData(nameof(AllWidths))]
    public void Given_nan_and_minus_infinity_When_exponentiated_Then_nan_stays_nan_and_minus_infinity_is_the_clamp(int bits)
    {
        var xs = new float[16];
        xs[3] = float.NaN;
        xs[5] = float.NegativeInfinity;
        var ys = Exp(bits, xs);
        Assert.True(float.IsNaN(ys[3]));
        Assert.InRange(ys[5], 0f, 1e-37f);      // e^−87, the clamp: softmax weights of masked entries vanish against 1
        Assert.Equal(1f, ys[0]);
    }

    private static (ushort[] Stored, float[] Loaded) RoundTrip<TVec>(float[] xs) where TVec : struct, IVec<TVec>
    {
        int lanes = TVec.Lanes;
        var stored = new ushort[xs.Length];
        var loaded = new float[xs.Length];
        fixed (float* x = xs, l = loaded)
        fixed (ushort* s = stored)
            for (int i = 0; i + lanes <= xs.Length; i += lanes)
            {
                TVec.StoreBf16(TVec.Load(x + i), s + i);
                TVec.Store(TVec.LoadBf16(s + i), l + i);
            }
        return (stored, loaded);
    }

    [Theory]
    [MemberData(nameof(AllWidths))]
    public void Given_float32_values_When_stored_as_bf16_and_loaded_Then_they_round_to_nearest_even_as_the_scalar_form(int bits)
    {
        // Given: random values and exact ties (…8000 in the low half: round to the even neighbour)
        var rng = new Random(7);
        var xs = Enumerable.Range(0, 1024).Select(i => i % 4 == 0
            ? BitConverter.UInt32BitsToSingle((uint)rng.Next(0x0080, 0x7F00) << 16 | 0x8000u)
            : (float)(rng.NextDouble() * 200 - 100)).ToArray();

        // When
        var (stored, loaded) = bits switch { 512 => RoundTrip<V512>(xs), 256 => RoundTrip<V256>(xs), _ => RoundTrip<V128>(xs) };

        // Then
        for (int i = 0; i < xs.Length; i++)
        {
            uint b = BitConverter.SingleToUInt32Bits(xs[i]);
            var expected = (ushort)((b + 0x7FFFu + ((b >> 16) & 1u)) >> 16);
            Assert.Equal(expected, stored[i]);
            Assert.Equal(BitConverter.UInt32BitsToSingle((uint)expected << 16), loaded[i]);
        }
    }

    [Fact]
    public void Given_random_bits_When_widened_and_narrowed_portably_Then_they_equal_the_forms_the_wrappers_use()
    {
        // Given: any 16-bit words, and any 32-bit patterns (NaNs and the uint wrap-around of rounding included)
        var rng = new Random(8);
        var words = Enumerable.Range(0, 16).Select(_ => (ushort)rng.Next(0, 65536)).ToArray();
        var dwords = Enumerable.Range(0, 16).Select(_ => (uint)rng.Next() ^ ((uint)rng.Next(2) << 31)).ToArray();
        var viaWrapper512 = new ushort[16];
        var viaWrapper256 = new ushort[8];
        fixed (ushort* w = words, o512 = viaWrapper512, o256 = viaWrapper256)
        fixed (uint* d = dwords)
        {
            // Then: widening equals the wrappers' loads
            Assert.Equal(Bf16Bits.Widen(Vector256.Load(w)) << 16, WidenViaWrapper512(w));
            Assert.Equal(Bf16Bits.Widen(Vector128.Load(w)) << 16, WidenViaWrapper256(w));
            // and narrowing after rounding equals the wrappers' stores and the scalar form
            V512.StoreBf16(V512.Load((float*)d), o512);
            V256.StoreBf16(V256.Load((float*)d), o256);
            var portable512 = Bf16Bits.Narrow(Bf16Bits.Round(Vector512.Load(d)));
            var portable256 = Bf16Bits.Narrow(Bf16Bits.Round(Vector256.Load(d)));
            for (int i = 0; i < 16; i++)
            {
                var expected = (ushort)((dwords[i] + 0x7FFFu + ((dwords[i] >> 16) & 1u)) >> 16);
                Assert.Equal(expected, portable512.GetElement(i));
                Assert.Equal(expected, viaWrapper512[i]);
                if (i < 8) Assert.Equal(expected, portable256.GetElement(i));
                if (i < 8) Assert.Equal(expected, viaWrapper256[i]);
            }
        }
    }

    private static Vector512<uint> WidenViaWrapper512(ushort* p)
    {
        var bits = new uint[16];
        fixed (uint* q = bits) V512.Store(V512.LoadBf16(p), (float*)q);
        return Vector512.Create(bits);
    }

    private static Vector256<uint> WidenViaWrapper256(ushort* p)
    {
        var bits = new uint[8];
        fixed (uint* q = bits) V256.Store(V256.LoadBf16(p), (float*)q);
        return Vector256.Create(bits);
    }
}
