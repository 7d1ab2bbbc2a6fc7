using CrateMae.Kernels;
using CrateMae.Models;

namespace CrateMae.Tests.Models;

/// <summary>
/// <see cref="KernelOptions"/>: <c>CRATE_MAE_SIMD</c> read as a vector width (one clear error otherwise), a width
/// capped to what the CPU accelerates, the reference path without kernels, and a model handing its options to every block.
/// </summary>
public sealed class KernelOptionsTests
{
    [Theory]
    [InlineData("", 512)]
    [InlineData("0", 0)]
    [InlineData("128", 128)]
    [InlineData(" 256 ", 256)]
    [InlineData("512", 512)]
    public void Given_a_CRATE_MAE_SIMD_value_When_read_Then_it_is_the_widest_width_allowed(string value, int expected) =>
        Assert.Equal(expected, KernelOptions.WidthFromEnvironment(value));

    [Theory]
    [InlineData("64")]
    [InlineData("avx2")]
    [InlineData("1024")]
    public void Given_an_invalid_CRATE_MAE_SIMD_When_read_Then_one_line_names_the_variable_and_the_values(string value)
    {
        var e = Assert.Throws<ArgumentException>(() => KernelOptions.WidthFromEnvironment(value));
        Assert.StartsWith($"CRATE_MAE_SIMD={value}: expected 0", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Given_widths_When_the_options_are_resolved_Then_the_width_is_the_widest_accelerated_one_allowed()
    {
        var widths = KernelOptions.AcceleratedWidths;
        Assert.NotEmpty(widths);                                                       // every x86-64 and ARM64 CPU has 128
        Assert.Equal(widths[0], new KernelOptions { SimdBits = 512 }.VectorBits);
        foreach (var w in widths) Assert.Equal(w, new KernelOptions { SimdBits = w }.VectorBits);
        Assert.Equal(0, new KernelOptions { SimdBits = 0 }.VectorBits);
        Assert.False(new KernelOptions { SimdBits = 0 }.Simd);
        Assert.Equal(0, new KernelOptions { SimdBits = 512, Reference = true }.VectorBits);
        Assert.Throws<ArgumentOutOfRangeException>(() => new KernelOptions { SimdBits = 96 });
    }

    [Fact]
    public void Given_a_model_When_its_options_are_set_Then_every_block_takes_them()
    {
        using var model = new MaskedAutoencoder(Presets.Get("crate-fmnist") with { Depth = 2, DecoderDepth = 1 });
        var options = KernelOptions.Default with { SimdBits = 128, Ista = IstaForm.TwoProducts };
        model.Kernels = options;
        var modules = model.named_modules().Select(m => m.module).OfType<IKernelModule>().ToList();
        Assert.True(modules.Count >= 10);                                               // blocks, norms' wrappers, attention, ISTA, patch embedding
        Assert.All(modules, m => Assert.Same(options, m.Kernels));
        Assert.Same(options, model.Kernels);
    }
}
