using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using CrateMae.Training;

// The allocator and OpenMP policy of the crate-mae CLI (ProcessSetup): jemalloc without decay when it is installed
// (a restart, as the CLI does), OMP_WAIT_POLICY=PASSIVE (ProcessStart). Without them the attention's multi-megabyte
// buffers are page-faulted in on every call under glibc, and a module measured here would not be the module that
// pretrain and crate-mae bench run.
ProcessSetup.UseJemalloc(typeof(Program).Assembly);

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
