using CrateMae.Hosting;

namespace CrateMae.Tests.Bench;

public sealed class CpuDescriptionTests
{
    [Fact]
    public void GivenTheCpuinfoOfAnAmxXeon_WhenDescribed_ThenTheModelAndEveryRelevantInstructionSetAreNamed()
    {
        const string cpuinfo = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: INTEL(R) XEON(R) PLATINUM 8581C CPU @ 2.10GHz\n" +
                               "flags\t\t: fpu sse2 avx fma avx2 avx512f avx512bw avx512_bf16 amx_bf16 amx_tile\n\nprocessor\t: 1\n" +
                               "model name\t: another\nflags\t\t: sse2\n";
        Assert.Equal("INTEL(R) XEON(R) PLATINUM 8581C CPU @ 2.10GHz (avx2 fma avx512f avx512_bf16 amx_bf16)", CpuDescription.Describe(cpuinfo));
    }

    [Fact]
    public void GivenTheCpuinfoOfAnAvx2OnlyEpyc_WhenDescribed_ThenNoAvx512IsClaimed()
    {
        const string cpuinfo = "processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu sse2 avx fma avx2 bmi2\n";
        Assert.Equal("AMD EPYC 7B13 (avx2 fma)", CpuDescription.Describe(cpuinfo));
    }

    [Fact]
    public void GivenTheCpuinfoOfAnArmServerOrNone_WhenDescribed_ThenNeonOrTheArchitectureIsNamed()
    {
        Assert.Equal("Raspberry Pi 4 Model B Rev 1.4 (neon)",
            CpuDescription.Describe("processor\t: 0\nFeatures\t: fp asimd evtstrm crc32 cpuid\nCPU part\t: 0xd08\n\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n"));
        var fallback = CpuDescription.Describe(null);
        Assert.StartsWith(System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture.ToString(), fallback);
    }

    [Fact]
    public void GivenThisLinuxMachine_WhenDescribed_ThenItIsTheFirstModelNameOfProcCpuinfo()
    {
        var model = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
        var expected = model is null ? System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture.ToString() : model[(model.IndexOf(':') + 1)..].Trim();
        Assert.StartsWith(expected, CpuDescription.Current);
    }
}
