using System.Runtime.InteropServices;
using CrateMae.Models;
using CrateMae.Tests.Support;
using CrateMae.Training;
using static TorchSharp.torch;

namespace CrateMae.Tests.Training;

/// <summary>
/// The direct call into libtorch's <c>_fused_adamw_</c> is made only for the libtorch release its signature was written
/// for (<see cref="LibtorchExport"/>); with any other, <see cref="AdamW"/> runs its per-op form and gives the same
/// parameters.
/// </summary>
public sealed class FusedAdamWVersionTests
{
    [Theory]
    [InlineData("2.10", true)]
    [InlineData("2.10.0", true)]
    [InlineData("2.10.0.0", true)]
    [InlineData("2.10.1", true)]
    [InlineData("2.1", false)]
    [InlineData("2.1.0", false)]
    [InlineData("2.100.0", false)]
    [InlineData("2.11.0.0", false)]
    [InlineData("3.10.0", false)]
    [InlineData("", false)]
    [InlineData(null, false)]
    public void Given_a_libtorch_version_When_checked_Then_only_the_2_10_release_is_supported(string? version, bool supported) =>
        Assert.Equal(supported, LibtorchExport.Supports(version));

    [SkippableFact]
    public void Given_this_processs_libtorch_When_the_fused_op_is_looked_up_Then_it_is_callable_exactly_for_its_own_release()
    {
        Skip.IfNot(OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture == Architecture.X64,
            "the direct call is made only on Linux x64");

        Assert.Equal(LibtorchExport.Supports(LibtorchExport.LoadedVersion), FusedAdamWKernel.Available);
        Assert.Equal(FusedAdamWKernel.Available, FusedAdamWKernel.AvailableFor(LibtorchExport.LoadedVersion));
        Assert.False(FusedAdamWKernel.AvailableFor("2.11.0.0"));
        Assert.False(FusedAdamWKernel.AvailableFor(null));
    }

    [Fact]
    public void Given_another_libtorch_release_When_stepping_Then_AdamW_falls_back_to_the_per_op_form_with_the_same_results()
    {
        using var scope = NewDisposeScope();
        var config = Presets.Get("crate-fmnist") with { Depth = 1, DecoderDepth = 1 };
        using var other = new MaskedAutoencoder(config, new Generator(21));
        using var perOp = new MaskedAutoencoder(config, new Generator(21));
        using var current = new MaskedAutoencoder(config, new Generator(21));
        using var fallback = new AdamW(ParamGroups.WeightDecaySplit(other, 0.05), libtorchVersion: "2.11.0.0");
        using var plain = new AdamW(ParamGroups.WeightDecaySplit(perOp, 0.05), fused: false);
        using var own = new AdamW(ParamGroups.WeightDecaySplit(current, 0.05));
        Assert.False(fallback.Fused);
        var images = randn(4, 1, 28, 28, generator: new Generator(22));

        for (int step = 0; step < 3; step++)
        {
            using var stepScope = NewDisposeScope();
            var noise = rand(4, config.NumPatches, generator: new Generator((ulong)(200 + step)));
            TrainingStep.Run(other, fallback, images, noise, 0.75, null, 1e-3);
            TrainingStep.Run(perOp, plain, images, noise, 0.75, null, 1e-3);
            TrainingStep.Run(current, own, images, noise, 0.75, null, 1e-3);
        }

        // The fallback is the per-op form, bit for bit; against this process's own optimizer (fused where libtorch is
        // 2.10) it differs by float rounding only.
        var reference = perOp.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        var ownParameters = current.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        foreach (var (name, p) in other.named_parameters())
        {
            Assert.True((p - reference[name]).abs().max().item<float>() == 0, $"parameter {name}: the fallback differs from the per-op form");
            TensorAssert.RelativeToMax(p, ownParameters[name], 1e-5, $"parameter {name} after 3 steps, fallback vs this process's AdamW");
        }
    }
}
