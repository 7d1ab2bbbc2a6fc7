using System.Globalization;
using System.Runtime.InteropServices;
using CrateMae.Kernels;
using CrateMae.Models;
using CrateMae.Training;

namespace CrateMae.Tests.Training;

/// <summary>
/// <see cref="AdaptiveSpin"/>: reading the machine's and the process's CPU time from /proc, the rule that turns it into a
/// spin count, and finding libgomp's spin count in its memory (checked by its effect on an OpenMP worker).
/// </summary>
[Collection(OpenMpSpinTestCollection.Name)]
public sealed class AdaptiveSpinTests
{
    [Fact]
    public void Given_a_proc_stat_cpu_line_When_parsed_Then_busy_is_user_nice_system_irq_and_softirq()
    {
        // cpu user nice system idle iowait irq softirq steal guest guest_nice
        Assert.Equal(100 + 2 + 30 + 5 + 7, AdaptiveSpin.ParseMachineBusy("cpu  100 2 30 4000 9 5 7 11 0 0"));
        Assert.Throws<FormatException>(() => AdaptiveSpin.ParseMachineBusy("cpu0 1 2 3 4 5 6 7"));
        Assert.Throws<FormatException>(() => AdaptiveSpin.ParseMachineBusy("intr 1 2"));
    }

    [Fact]
    public void Given_a_stat_line_whose_command_has_spaces_and_parentheses_When_parsed_Then_utime_plus_stime_is_read()
    {
        // Fields after the command: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime …
        const string line = "4242 (a (b) c) R 1 4242 4242 0 -1 4194560 10 0 0 0 123 45 0 0 20 0 3 0 100 0 0";
        Assert.Equal(123 + 45, AdaptiveSpin.ParseProcessTicks(line));
        Assert.Throws<FormatException>(() => AdaptiveSpin.ParseProcessTicks("4242 (x) R 1 2"));
    }

    [Fact]
    public void Given_two_readings_When_the_other_processes_share_is_computed_Then_our_own_time_is_left_out_and_it_is_never_negative()
    {
        var earlier = new AdaptiveSpin.CpuTicks(MachineBusy: 1000, Process: 500);

        // 0.5 s later: the machine was busy 60 ticks, 40 of them ours → 20 ticks = 0.2 s over 0.5 s = 0.4 CPUs.
        Assert.Equal(0.4, new AdaptiveSpin.CpuTicks(1060, 540).OtherCpus(earlier, 0.5), 9);
        // Tick rounding can make our own count run ahead of the machine's.
        Assert.Equal(0, new AdaptiveSpin.CpuTicks(1010, 520).OtherCpus(earlier, 0.5));
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(0.29)]
    [InlineData(0.31)]
    [InlineData(1.5)]
    public void Given_the_other_processes_CPU_use_When_deciding_Then_workers_spin_only_below_the_threshold(double others)
    {
        ulong spin = AdaptiveSpin.Decide(others);

        Assert.Equal(others > AdaptiveSpin.OtherProcessesThreshold ? 0UL : AdaptiveSpin.SpinCount, spin);
    }

    [Fact]
    public void Given_maps_lines_When_parsed_Then_range_permissions_and_path_are_read()
    {
        var lib = ProcessSetup.ParseMapping("7f00aa000000-7f00aa002000 rw-p 0001f000 fd:01 123 /opt/x/libgomp-98b21ff3.so.1");
        var anon = ProcessSetup.ParseMapping("7f00aa002000-7f00aa003000 rw-p 00000000 00:00 0 ");

        Assert.Equal((0x7f00aa000000UL, 0x7f00aa002000UL, true, "/opt/x/libgomp-98b21ff3.so.1"), (lib.Start, lib.End, lib.Writable, lib.Path));
        Assert.Equal("", anon.Path);
        Assert.False(ProcessSetup.ParseMapping("7f00aa003000-7f00aa004000 r--p 00000000 fd:01 123 /opt/x/lib.so").Writable);
    }

    /// <summary>
    /// In this test process libgomp was loaded without our marker, so its spin count holds libgomp's own value:
    /// 300,000 with neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT set, or a plain GOMP_SPINCOUNT.
    /// </summary>
    private static ulong? ThisProcessSpinCount()
    {
        if (Environment.GetEnvironmentVariable("OMP_WAIT_POLICY") is not null) return null;
        var given = Environment.GetEnvironmentVariable("GOMP_SPINCOUNT");
        if (given is null) return 300_000;
        return ulong.TryParse(given, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0 ? n : null;
    }

    [SkippableFact]
    public void Given_libgomp_loaded_When_its_spin_count_is_located_and_raised_Then_an_idle_worker_spins_and_at_zero_it_sleeps()
    {
        Skip.IfNot(OpenMpTeam.Available, OpenMpTeam.Origin);   // loads libtorch and with it libgomp
        var spinCount = ThisProcessSpinCount();
        Skip.If(spinCount is null, "OMP_WAIT_POLICY or a non-numeric GOMP_SPINCOUNT is set for the test process");
        ulong expected = spinCount!.Value;
        var libgomp = ProcessSetup.LoadedLibGomp().First();

        // Given: exactly one word of libgomp's writable data holds its spin count.
        var words = AdaptiveSpin.Locate(libgomp, expected);
        Assert.True(words.Count == 1, $"{words.Count} words hold {expected} in {libgomp}");
        var word = words[0];
        // libgomp keeps its throttled spin count, min(100, spin count), in the word before: the count it spins instead
        // while it manages more threads than there are CPUs, as in this test process once other tests' threads have run
        // OpenMP regions. (The CLI runs every region from one thread, so there the spin count applies.)
        nint throttled = word - sizeof(long);
        long throttledValue = Marshal.ReadInt64(throttled);
        Assert.True(throttledValue == (long)Math.Min(100, expected), $"the word before the spin count holds {throttledValue}, not libgomp's throttled count");
        try
        {
            // When the count is large, the worker of a finished region keeps spinning (burns CPU) while we sleep;
            // at 0 it sleeps at once. A word that is not the spin count changes neither.
            long spinning = WorkerTicksWhileIdle(word, throttled, 20_000_000);
            long passive = WorkerTicksWhileIdle(word, throttled, 0);

            // Then (clock ticks of 10 ms over 400 ms of idling)
            Assert.True(spinning >= 8, $"worker used {spinning} ticks with spin count 20,000,000");
            Assert.True(passive <= 2, $"worker used {passive} ticks with spin count 0");
        }
        finally
        {
            Marshal.WriteInt64(word, (long)expected);
            Marshal.WriteInt64(throttled, throttledValue);
        }
    }

    /// <summary>
    /// Sets libgomp's spin count (and its throttled count alike), runs a two-thread region to wake the worker, then idles 400 ms and returns the clock
    /// ticks the worker used meanwhile (from /proc/self/task/TID/stat).
    /// </summary>
    private static long WorkerTicksWhileIdle(nint word, nint throttled, long spinCount)
    {
        Marshal.WriteInt64(word, spinCount);
        Marshal.WriteInt64(throttled, spinCount);
        Thread.Sleep(50);   // a worker still spinning from before reads the count when its next wait begins
        var tids = new int[2];
        OpenMpTeam.Run(2, part => tids[part] = gettid());
        int worker = tids[1];
        Skip.If(worker == tids[0] || worker == 0, "the OpenMP team had one thread");
        long before = Ticks(worker);
        Thread.Sleep(400);
        return Ticks(worker) - before;
    }

    private static long Ticks(int tid) => AdaptiveSpin.ParseProcessTicks(File.ReadAllText($"/proc/self/task/{tid}/stat"));

    [DllImport("libc.so.6")]
    private static extern int gettid();
}
