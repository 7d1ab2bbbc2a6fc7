using System.Collections.Concurrent;
using CrateMae.Kernels;

namespace CrateMae.Tests.Models;

/// <summary>
/// Our row kernels' parts run on libtorch's own OpenMP team (<c>GOMP_parallel</c>): every part exactly once, in parallel,
/// also when the team is smaller than the number of parts, and an exception in a part comes back to the caller.
/// </summary>
public sealed class OpenMpTeamTests
{
    [SkippableFact]
    public void Given_libtorch_loaded_on_Linux_When_resolving_libgomp_Then_the_team_is_available()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "libtorch bundles libgomp on Linux only");
        Skip.If(Environment.GetEnvironmentVariable("CRATE_MAE_KERNEL_THREADS") == "dotnet", "CRATE_MAE_KERNEL_THREADS=dotnet");
        // A silent fallback to the .NET pool would bring back the threads that compete with libtorch's worker.
        Assert.True(OpenMpTeam.Available, $"libgomp not usable: {OpenMpTeam.Origin}");
        Assert.Contains("libgomp", OpenMpTeam.Origin);
    }

    [SkippableFact]
    public void Given_four_parts_When_running_them_on_the_team_Then_each_runs_once_and_not_all_on_one_thread()
    {
        Skip.IfNot(OpenMpTeam.Available, OpenMpTeam.Origin);
        // Given
        var runs = new int[4];
        var threads = new ConcurrentDictionary<int, bool>();

        // When
        OpenMpTeam.Run(4, p =>
        {
            Interlocked.Increment(ref runs[p]);
            threads[Environment.CurrentManagedThreadId] = true;
            Thread.Sleep(20);                                   // long enough that one thread cannot take every part
        });

        // Then
        Assert.Equal([1, 1, 1, 1], runs);
        Assert.True(threads.Count > 1, "all parts ran on one thread");
    }

    [SkippableFact]
    public void Given_a_nested_call_with_a_one_thread_team_When_running_Then_that_thread_runs_every_part()
    {
        Skip.IfNot(OpenMpTeam.Available, OpenMpTeam.Origin);
        // Given: inside a parallel region libgomp gives a nested region one thread (nesting is off by default); with
        // nesting on it would be a team of its own. Either way each part must run once.
        var inner = new int[2, 3];

        // When
        OpenMpTeam.Run(2, outer => OpenMpTeam.Run(3, p => Interlocked.Increment(ref inner[outer, p])));

        // Then
        for (int o = 0; o < 2; o++)
            for (int p = 0; p < 3; p++)
                Assert.Equal(1, inner[o, p]);
    }

    [SkippableFact]
    public void Given_a_part_that_throws_When_running_Then_the_other_parts_run_and_the_exception_reaches_the_caller()
    {
        Skip.IfNot(OpenMpTeam.Available, OpenMpTeam.Origin);
        var runs = new int[3];

        var ex = Assert.Throws<InvalidOperationException>(() => OpenMpTeam.Run(3, p =>
        {
            Interlocked.Increment(ref runs[p]);
            if (p == 1) throw new InvalidOperationException("part 1 failed");
        }));

        Assert.Equal("part 1 failed", ex.Message);
        Assert.Equal([1, 1, 1], runs);
    }
}
