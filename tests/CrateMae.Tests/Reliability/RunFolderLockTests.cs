using System.Diagnostics;
using CrateMae.IO;
using CrateMae.Tests.Data;
using CrateMae.Training;

namespace CrateMae.Tests.Reliability;

/// <summary>
/// One writer per run folder, with real <c>crate-mae pretrain</c> processes: a second writer is refused at once naming
/// the folder and the holder's PID, the first finishes unaffected, and a SIGKILLed holder leaves no lock behind.
/// </summary>
[Collection(ReliabilityCollection.Name)]
public sealed class RunFolderLockTests : IDisposable
{
    private const int SigKill = 9;
    private readonly TempDirectory _tmp = new();

    public void Dispose() => _tmp.Dispose();

    private string[] Args(string run, int epochs) =>
    [
        "pretrain", "--model", Cli.TinyModel, "--data", "mnist:" + ReliabilityData.Mnist(_tmp, n: 256, name: "mnist-" + epochs), "--output", run,
        "--batch-size", "16", "--epochs", $"{epochs}", "--eval-images", "16", "--log-every", "1", "--threads", "1", "--seed", "5",
    ];

    /// <summary>Starts a pretrain child and waits until it holds the folder (its .lock-owner names it) and has trained a step.</summary>
    private ChildProcess StartHolder(string run, int epochs)
    {
        var p = Cli.Start(Args(run, epochs), _tmp.Path);
        var clock = Stopwatch.StartNew();
        var metrics = new RunFolder(run).Metrics;
        while (!p.Process.HasExited && clock.Elapsed < TimeSpan.FromMinutes(2) &&
               !(FolderLock.Owner(run).Contains($"process {p.Process.Id} ") && File.Exists(metrics) && MetricsLog.Read(metrics).Count > 0))
            Thread.Sleep(20);
        Assert.False(p.Process.HasExited, $"the first run ended before the second started\n{p.Stdout}{p.Stderr}");
        return p;
    }

    [Fact]
    public void Given_a_running_pretrain_When_a_second_writes_into_its_folder_Then_the_second_is_refused_and_the_first_is_unaffected()
    {
        var run = _tmp.File("run");
        using var first = StartHolder(run, epochs: 6);

        var second = Cli.Run(Args(run, epochs: 6));
        Cli.AssertOneLineError(second, 1, Path.GetFullPath(run), "is in use by", $"process {first.Process.Id} (crate-mae pretrain");
        var resume = Cli.Run([.. Args(run, epochs: 6), "--resume", run]);
        Cli.AssertOneLineError(resume, 1, "is in use by", $"process {first.Process.Id}");

        var end = first.WaitForExit(TimeSpan.FromMinutes(4));
        Assert.True(end.ExitCode == 0, end.ToString());
        var epochs = MetricsLog.Read(new RunFolder(run).Metrics).Where(r => (string?)r["type"] == "epoch").Select(r => MetricsLog.Integer(r, "epoch") ?? -1).ToList();
        Assert.Equal(Enumerable.Range(0, 7).Select(e => (long)e), epochs);     // one run's lines only: epoch 0 (before training) … 6
        Assert.True(File.Exists(new RunFolder(run).FinalCheckpoint));
        using var ckpt = Checkpoint.Load(new RunFolder(run).FinalCheckpoint);   // intact
    }

    [Fact]
    public void Given_a_holder_killed_with_sigkill_When_the_run_is_resumed_Then_the_lock_is_free()
    {
        var run = _tmp.File("run");
        using (var holder = StartHolder(run, epochs: 6))
        {
            holder.Signal(SigKill);
            holder.Process.WaitForExit();
        }
        using (var again = FolderLock.Acquire(run, "test")) Assert.Contains("test", FolderLock.Owner(run));
        if (File.Exists(new RunFolder(run).LastCheckpoint))
        {
            var r = Cli.Run([.. Args(run, epochs: 6), "--resume", run]);
            Assert.True(r.ExitCode == 0, r.ToString());
        }
    }
}
