namespace CrateMae.Training;

/// <summary>The layout of a pre-training output folder, and resolution of "a checkpoint or a run folder".</summary>
public sealed class RunFolder(string root)
{
    public string Root { get; } = Path.GetFullPath(root);
    public string ConfigJson => Path.Combine(Root, "config.json");
    public string Metrics => Path.Combine(Root, "metrics.jsonl");
    public string LossPlot => Path.Combine(Root, "loss.png");
    public string Reconstructions => Path.Combine(Root, "reconstructions");
    public string Checkpoints => Path.Combine(Root, "checkpoints");
    public string LastCheckpoint => Path.Combine(Root, "checkpoint-last" + Checkpoint.Extension);
    public string FinalCheckpoint => Path.Combine(Root, "final" + Checkpoint.Extension);
    public string ExportedPth => Path.Combine(Root, "model.pth");
    public string Summary => Path.Combine(Root, "summary.json");

    public string EpochCheckpoint(int epoch) => Path.Combine(Checkpoints, $"epoch-{epoch:D3}{Checkpoint.Extension}");
    public string ReconstructionPng(int epoch) => Path.Combine(Reconstructions, $"epoch-{epoch:D3}.png");

    /// <summary>
    /// A checkpoint file as given, or for a run folder its final model (<c>final.ckpt</c>, else <c>checkpoint-last.ckpt</c>).
    /// </summary>
    public static string ResolveCheckpoint(string fileOrFolder)
    {
        if (File.Exists(fileOrFolder)) return fileOrFolder;
        if (Directory.Exists(fileOrFolder))
        {
            var run = new RunFolder(fileOrFolder);
            if (File.Exists(run.FinalCheckpoint)) return run.FinalCheckpoint;
            if (File.Exists(run.LastCheckpoint)) return run.LastCheckpoint;
            throw new FileNotFoundException($"--checkpoint {fileOrFolder}: the folder has neither final{Checkpoint.Extension} nor checkpoint-last{Checkpoint.Extension}");
        }
        throw new FileNotFoundException($"--checkpoint {fileOrFolder}: no such file or run folder");
    }
}
