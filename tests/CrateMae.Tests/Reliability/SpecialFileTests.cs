using System.Diagnostics;
using System.Runtime.InteropServices;
using CrateMae.Data;
using CrateMae.Interop;
using CrateMae.IO;
using CrateMae.Models;
using CrateMae.Tests.Data;
using CrateMae.Training;

namespace CrateMae.Tests.Reliability;

/// <summary>
/// A FIFO, a directory or a device given where a file is expected fails at once with one line naming it; nothing
/// blocks (a FIFO's open would wait for a writer for ever).
/// </summary>
[Collection(ReliabilityCollection.Name)]
public sealed class SpecialFileTests : IDisposable
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(1);
    private readonly TempDirectory _tmp = new();

    public void Dispose() => _tmp.Dispose();

    [DllImport("libc", EntryPoint = "mkfifo", SetLastError = true)]
    private static extern int MkFifo([MarshalAs(UnmanagedType.LPUTF8Str)] string path, uint mode);

    private string Fifo(string name)
    {
        Assert.True(OperatingSystem.IsLinux(), "FIFOs are made with Linux's mkfifo");
        var path = _tmp.File(name);
        Assert.True(MkFifo(path, 0b110_000_000) == 0, $"mkfifo {path} failed: errno {Marshal.GetLastPInvokeError()}");
        return path;
    }

    /// <summary>
    /// Runs <paramref name="read"/> on another thread and returns what it threw within <see cref="Limit"/>. Should it
    /// block on the FIFO, a writer opens and closes it (the reader then sees end of file) and the test fails.
    /// </summary>
    private static Exception Refused(string fifo, Action read)
    {
        var sw = Stopwatch.StartNew();
        var task = Task.Run(read);
        bool finished;
        try { finished = task.Wait(TimeSpan.FromSeconds(10)); }
        catch (AggregateException) { finished = true; }   // it threw, as it should
        if (!finished)
        {
            using (new FileStream(fifo, FileMode.Open, FileAccess.Write)) { }
            task.ContinueWith(_ => { }).Wait(TimeSpan.FromSeconds(10));
            Assert.Fail($"reading the FIFO {fifo} blocked");
        }
        sw.Stop();
        Assert.True(sw.Elapsed < Limit, $"refusing the FIFO took {sw.Elapsed.TotalSeconds:F2} s");
        var e = Assert.IsAssignableFrom<Exception>(task.Exception?.InnerException);
        Assert.Contains(fifo, e.Message);
        Assert.Contains("FIFO", e.Message);
        return e;
    }

    [Fact]
    public void A_fifo_as_idx_file_is_refused()
    {
        var fifo = Fifo("train-images-idx3-ubyte");
        Assert.IsType<InvalidDataException>(Refused(fifo, () => IdxFile.Read(fifo)));
    }

    [Fact]
    public void A_fifo_as_image_is_refused()
    {
        var fifo = Fifo("picture.png");
        Assert.IsType<InvalidDataException>(Refused(fifo, () => SkiaDecoder.DecodeRgb(fifo, 1 << 20)));
    }

    [Fact]
    public void A_fifo_as_checkpoint_is_refused()
    {
        var ckpt = Fifo("model.ckpt");
        Refused(ckpt, () => Checkpoint.Load(ckpt));
        var pth = Fifo("model.pth");
        Refused(pth, () => PyTorchFile.Load(pth));
    }

    [Fact]
    public void A_fifo_as_model_config_is_refused()
    {
        var fifo = Fifo("config.json");
        Refused(fifo, () => Presets.Resolve(fifo));
    }

    [Fact]
    public void The_cli_names_the_fifo_in_one_line()
    {
        var dir = ReliabilityData.Mnist(_tmp);
        var images = Path.Combine(dir, "train-images-idx3-ubyte");
        File.Delete(images);
        Assert.Equal(0, MkFifo(images, 0b110_000_000));
        var sw = Stopwatch.StartNew();
        Cli.AssertOneLineError(Cli.Run(ReliabilityData.Pretrain("mnist:" + dir, _tmp.File("run"))), 1, images, "FIFO");
        Cli.AssertOneLineError(Cli.Run("info", "--model", Fifo("model.json")), 1, "model.json", "FIFO");
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(20), $"the CLI took {sw.Elapsed.TotalSeconds:F1} s to refuse");
    }

    [Fact]
    public void A_directory_or_device_given_as_a_file_is_named()
    {
        var dir = _tmp.Dir("model.ckpt");
        Assert.Contains("is a directory", Assert.Throws<InvalidDataException>(() => InputFile.RequireRegular(dir, "checkpoint")).Message);
        if (File.Exists("/dev/null"))
            Assert.Contains("character device", Assert.Throws<InvalidDataException>(() => InputFile.RequireRegular("/dev/null", "IDX file")).Message);
        var missing = _tmp.File("none.idx");
        Assert.Contains("does not exist", Assert.Throws<FileNotFoundException>(() => InputFile.RequireRegular(missing, "IDX file")).Message);
        var regular = _tmp.File("regular.json");
        File.WriteAllText(regular, "{}");
        InputFile.RequireRegular(regular, "model config file");
    }
}
