using System.Diagnostics;
using System.Text.Json.Nodes;
using CrateMae.Models;
using CrateMae.Tests.Data;
using CrateMae.Training;
using SkiaSharp;

namespace CrateMae.Tests.Reliability;

/// <summary>
/// A full disk or a read-only output folder gives one clear line and leaves nothing half-written; the previous
/// checkpoint survives and the run resumes once there is room. Uses small tmpfs mounts (root); skipped only where mounting is
/// not permitted. Root ignores permission bits, so read-only means a read-only mount.
/// </summary>
[Collection(ReliabilityCollection.Name)]
public sealed class StorageFaultTests : IDisposable
{
    private readonly TempDirectory _tmp = new();
    private readonly List<string> _mounts = [];

    public void Dispose()
    {
        foreach (var m in _mounts) Sh("umount", "-l", m);
        _tmp.Dispose();
    }

    private static (int Code, string Output) Sh(params string[] args)
    {
        var psi = new ProcessStartInfo(args[0]) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args[1..]) psi.ArgumentList.Add(a);
        try
        {
            using var p = Process.Start(psi)!;
            var output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
            p.WaitForExit();
            return (p.ExitCode, output.Trim());
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (-1, e.Message);
        }
    }

    /// <summary>Mounts a tmpfs of <paramref name="size"/> (e.g. "256k") at a new folder, or skips the test when not permitted.</summary>
    private string Tmpfs(string size)
    {
        var dir = _tmp.Dir("mnt" + _mounts.Count);
        var (code, output) = Sh("mount", "-t", "tmpfs", "-o", "size=" + size, "tmpfs", dir);
        Skip.If(code != 0, $"cannot mount a tmpfs here ({output}); the disk-full and read-only tests need root and mount permission");
        _mounts.Add(dir);
        return dir;
    }

    private static void Remount(string dir, string options)
    {
        var (code, output) = Sh("mount", "-o", "remount," + options, dir);
        Assert.True(code == 0, $"remount {options}: {output}");
    }

    private static string[] TempFiles(string dir) => Directory.GetFiles(dir, ".*.tmp", SearchOption.AllDirectories);

    /// <summary>Every file of a run folder is whole: JSON parses, PNGs decode, checkpoints load, metrics lines parse (but a torn last one).</summary>
    private static void AssertNothingHalfWritten(string root)
    {
        Assert.Empty(TempFiles(root));
        foreach (var f in Directory.GetFiles(root, "*", SearchOption.AllDirectories))
        {
            switch (Path.GetExtension(f))
            {
                case ".json": JsonNode.Parse(File.ReadAllText(f)); break;
                case ".png": using (var bmp = SKBitmap.Decode(f)) Assert.True(bmp is not null, $"{f} does not decode"); break;
                case ".ckpt": using (var c = Checkpoint.Load(f)) using (c.CreateModel()) { } break;
                case ".jsonl":
                    var lines = File.ReadAllLines(f);
                    for (int i = 0; i < lines.Length - 1; i++) JsonNode.Parse(lines[i]);
                    break;
            }
        }
    }

    [SkippableFact]
    public void Disk_full_during_training_keeps_the_previous_checkpoint_and_resumes_after_space_is_freed()
    {
        var mnt = Tmpfs("256k");    // room for one 138 kB checkpoint, not for its replacement next to it
        var run = Path.Combine(mnt, "run");
        var data = "mnist:" + ReliabilityData.Mnist(_tmp);
        var r = Cli.Run(ReliabilityData.Pretrain(data, run, "--checkpoint-minutes", "0.000001", "--epochs", "2"));
        Cli.AssertOneLineError(r, 1, "could not write", "No space left on device", "unchanged");
        AssertNothingHalfWritten(run);
        long step;
        using (var ckpt = Checkpoint.Load(new RunFolder(run).LastCheckpoint)) step = ckpt.State!.GlobalStep;
        Assert.True(step >= 1);

        Remount(mnt, "size=16m");
        var resumed = Cli.Run(ReliabilityData.Pretrain(data, run, "--checkpoint-minutes", "0.000001", "--epochs", "2", "--resume", run));
        Assert.True(resumed.ExitCode == 0, resumed.ToString());
        Assert.Contains($"(global step {step})", resumed.Stdout);
        AssertNothingHalfWritten(run);
        Assert.True(File.Exists(new RunFolder(run).FinalCheckpoint));
    }

    [SkippableFact]
    public void Disk_full_when_converting_leaves_no_partial_output()
    {
        var source = _tmp.File("model.ckpt");
        using (var model = new MaskedAutoencoder(Presets.Resolve(Cli.TinyModel))) Checkpoint.Save(source, model, null, null);
        var mnt = Tmpfs("16k");
        foreach (var name in new[] { "out.pth", "out.safetensors", "out.ckpt" })
        {
            var output = Path.Combine(mnt, name);
            Cli.AssertOneLineError(Cli.Run("convert", source, output), 1, output, "No space left on device", "nothing was written");
            Assert.False(File.Exists(output));
            Assert.Empty(TempFiles(mnt));
        }
    }

    [SkippableFact]
    public void Read_only_output_folder_is_a_clear_error_and_nothing_changes()
    {
        var mnt = Tmpfs("8m");
        var data = "mnist:" + ReliabilityData.Mnist(_tmp);
        var run = Path.Combine(mnt, "run");
        var ok = Cli.Run(ReliabilityData.Pretrain(data, run, "--max-steps", "3"));
        Assert.True(ok.ExitCode == 0, ok.ToString());
        var before = Directory.GetFiles(run, "*", SearchOption.AllDirectories).ToDictionary(f => f, File.ReadAllBytes);
        Remount(mnt, "ro");

        // Root ignores permission bits, but not a read-only mount.
        Assert.ThrowsAny<IOException>(() => File.WriteAllText(Path.Combine(mnt, "probe"), "x"));

        Cli.AssertOneLineError(Cli.Run(ReliabilityData.Pretrain(data, Path.Combine(mnt, "fresh"))), 1, "cannot create the run folder", "Read-only file system", Path.Combine(mnt, "fresh"));
        Assert.False(Directory.Exists(Path.Combine(mnt, "fresh")));
        Cli.AssertOneLineError(Cli.Run(ReliabilityData.Pretrain(data, run, "--resume", run)), 1, "Read-only file system");
        Cli.AssertOneLineError(Cli.Run("convert", new RunFolder(run).LastCheckpoint, Path.Combine(mnt, "out.pth")), 1,
            "Read-only file system", "out.pth");

        var after = Directory.GetFiles(run, "*", SearchOption.AllDirectories).ToDictionary(f => f, File.ReadAllBytes);
        Assert.Equal(before.Keys.Order(), after.Keys.Order());
        foreach (var (f, bytes) in before) Assert.True(bytes.AsSpan().SequenceEqual(after[f]), $"{f} changed");
        using var ckpt = Checkpoint.Load(new RunFolder(run).LastCheckpoint);
        Assert.Equal(3, ckpt.State!.GlobalStep);
    }
}
