using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using CrateMae.Hosting;

// The start-up of the crate-mae CLI (ProcessStart.cs, compiled into both programs): OMP_WAIT_POLICY=PASSIVE unless the
// user chose a wait policy, jemalloc when CRATE_MAE_ALLOCATOR=jemalloc asks for it, so that a module measured here runs
// as it does under pretrain and crate-mae bench.
if (ProcessStart.Begin(args) is { } exitCode) return exitCode;

// Short in-process jobs by default (the work is native libtorch code, so BenchmarkDotNet's process isolation buys
// little and its child-project build costs a minute per benchmark); pass BenchmarkDotNet options as usual, e.g.
//   dotnet run -c Release --project bench/CrateMae.Bench -- --filter '*Mssa*'
// See docs/performance.md. `-- ab [options]` runs an in-process A/B of a fast-path choice instead (Ab.cs).
if (args.Length > 0 && args[0] == "ab")
{
    try { return CrateMae.Bench.Ab.Run(args[1..]); }
    catch (ArgumentException e)
    {
        Console.Error.WriteLine($"error: {e.Message}");
        return 2;
    }
}
var config = DefaultConfig.Instance
    .AddJob(Job.ShortRun.WithToolchain(InProcessEmitToolchain.Instance).WithWarmupCount(2).WithIterationCount(5).WithLaunchCount(1))
    .WithOptions(ConfigOptions.DisableOptimizationsValidator);
BenchmarkSwitcher.FromAssembly(typeof(CrateMae.Bench.ModuleBenchmarks).Assembly).Run(args, config);
return 0;
