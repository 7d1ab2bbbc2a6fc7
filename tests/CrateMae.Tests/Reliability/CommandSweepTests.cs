using CrateMae.Tests.Data;
using SkiaSharp;

namespace CrateMae.Tests.Reliability;

/// <summary>
/// Bad input to the evaluation and analysis commands: missing or bad checkpoints, images, datasets and outputs give
/// one line, a non-zero exit code and no stack trace. One tiny run folder is trained once for all cases.
/// </summary>
[Collection(ReliabilityCollection.Name)]
public sealed class CommandSweepTests : IClassFixture<CommandSweepTests.TinyRun>
{
    private readonly TinyRun _run;

    public CommandSweepTests(TinyRun run) => _run = run;

    /// <summary>A tiny pre-trained run folder, bad image files and a read-only-proof output path.</summary>
    public sealed class TinyRun : IDisposable
    {
        private readonly TempDirectory _tmp = new();

        public TinyRun()
        {
            Data = "mnist:" + ReliabilityData.Mnist(_tmp);
            Run = _tmp.File("run");
            var r = Cli.Run(ReliabilityData.Pretrain(Data, Run));
            if (r.ExitCode != 0) throw new InvalidOperationException(r.ToString());
            File.WriteAllBytes(Junk, "junk"u8.ToArray());
            File.WriteAllBytes(Empty, []);
            TestFiles.WriteImage(Strip, TestFiles.RandomRgb(1, 2000, 1), SKEncodedImageFormat.Png);
        }

        public string Data { get; }
        public string Run { get; }
        public string Junk => _tmp.File("junk.png");
        public string Empty => _tmp.File("empty.png");
        public string Strip => _tmp.File("strip.png");
        public string Missing => _tmp.File("missing.png");
        public string Nowhere => _tmp.File("nowhere");

        public void Dispose() => _tmp.Dispose();
    }

    private string[] Args(string template) =>
        template.Split(' ').Select(a => a
            .Replace("RUN", _run.Run).Replace("DATA", _run.Data).Replace("JUNK", _run.Junk).Replace("EMPTY", _run.Empty)
            .Replace("STRIP", _run.Strip).Replace("MISSING", _run.Missing).Replace("NOWHERE", _run.Nowhere)).ToArray();

    [Theory]
    [InlineData("analyze --checkpoint NOWHERE", 1, "no such file or run folder")]
    [InlineData("analyze --checkpoint JUNK", 1, "not a PyTorch file")]
    [InlineData("analyze --checkpoint RUN --data mnist:NOWHERE", 1, "does not exist")]
    [InlineData("attention --checkpoint RUN --image JUNK", 1, "not a decodable")]
    [InlineData("attention --checkpoint RUN --data DATA --index 999999", 2, "outside")]
    [InlineData("pca --checkpoint RUN --image EMPTY", 1, "0 bytes")]
    [InlineData("reconstruct --checkpoint RUN --image MISSING", 1, "no such file")]
    [InlineData("reconstruct --checkpoint RUN --image STRIP", 1, "more elongated than 256:1")]
    [InlineData("report NOWHERE", 1, "no such folder")]
    [InlineData("linprobe --checkpoint RUN --data mnist:NOWHERE", 1, "does not exist")]
    [InlineData("knn --checkpoint RUN --data DATA -k 0", 2, "-k")]
    [InlineData("finetune --checkpoint RUN --data DATA --epochs 0", 2, "--epochs")]
    [InlineData("embed --checkpoint RUN --data DATA --output /proc/no-such-folder/x.npy", 1, "cannot create its folder")]
    [InlineData("compare NOWHERE", 2, "no such folder")]
    [InlineData("info --modle crate-base", 2, "Unknown option 'modle'")]
    public void Command_fails_in_one_line(string template, int exit, string fragment)
    {
        var args = Args(template);
        var line = Cli.AssertOneLineError(Cli.Run(args), exit, fragment);
        foreach (var path in new[] { _run.Junk, _run.Empty, _run.Strip, _run.Missing, _run.Nowhere })
            if (template.Contains(Path.GetFileNameWithoutExtension(path).ToUpperInvariant()) && !template.Contains("--data mnist:"))
                Assert.Contains(path, line);
    }
}
