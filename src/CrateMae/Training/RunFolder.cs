using CrateMae.IO;

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

    /// <summary>Creates the folder and its subfolders; a failure (read-only file system, no permission, …) names the folder.</summary>
    public void Create()
    {
        try
        {
            Directory.CreateDirectory(Root);
            Directory.CreateDirectory(Reconstructions);
            Directory.CreateDirectory(Checkpoints);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            var reason = e.Message.Split(" : '")[0].TrimEnd('.');
            throw new IOException($"cannot create the run folder {Root} ({reason})", e);
        }
    }

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
            throw new FileNotFoundException($"checkpoint {fileOrFolder}: the run folder has neither final{Checkpoint.Extension} nor checkpoint-last{Checkpoint.Extension}");
        }
        throw new FileNotFoundException($"checkpoint {fileOrFolder}: no such file or run folder");
    }

    /// <summary>
    /// The checkpoint to resume from: a file as given, or for a run folder its <c>checkpoint-last.ckpt</c> (which, unlike
    /// <c>final.ckpt</c>, holds the optimizer state; a run killed after writing <c>final.ckpt</c> resumes from it and only
    /// redoes the export), else <c>final.ckpt</c>.
    /// </summary>
    public static string ResolveResume(string fileOrFolder)
    {
        if (File.Exists(fileOrFolder)) return fileOrFolder;
        if (Directory.Exists(fileOrFolder))
        {
            var run = new RunFolder(fileOrFolder);
            if (File.Exists(run.LastCheckpoint)) return run.LastCheckpoint;
            if (File.Exists(run.FinalCheckpoint)) return run.FinalCheckpoint;
            throw new FileNotFoundException($"--resume {fileOrFolder}: the folder has no checkpoint-last{Checkpoint.Extension} to resume from (was the run stopped before its first checkpoint? start it again without --resume)");
        }
        throw new FileNotFoundException($"--resume {fileOrFolder}: no such checkpoint file or run folder");
    }

    /// <summary>
    /// The config.json of the run that <paramref name="resume"/> (a run folder, or a checkpoint in it or in its
    /// <c>checkpoints/</c>) belongs to; null when there is none.
    /// </summary>
    public static string? ConfigFor(string resume)
    {
        if (!File.Exists(resume) && !Directory.Exists(resume)) return null;
        string? folder = Directory.Exists(resume) ? resume : Path.GetDirectoryName(Path.GetFullPath(resume));
        if (folder is not null && !Directory.Exists(resume) && Path.GetFileName(folder) == "checkpoints")
            folder = Path.GetDirectoryName(folder);
        if (folder is null) return null;
        var config = Path.Combine(folder, "config.json");
        return File.Exists(config) ? config : null;
    }

    /// <summary>
    /// Removes temporary files (<c>.NAME.PID.*.tmp</c>, see <see cref="AtomicFile"/>) that a killed process left in the run
    /// folder. Files of a process that is still running are kept. Returns how many were removed.
    /// </summary>
    public int RemoveStaleTemporaryFiles()
    {
        int removed = 0;
        foreach (var dir in new[] { Root, Checkpoints, Reconstructions })
        {
            if (!Directory.Exists(dir)) continue;
            foreach (var file in Directory.EnumerateFiles(dir, ".*.tmp"))
            {
                if (AtomicFile.OwnerProcessId(file) is { } pid && pid != Environment.ProcessId && IsRunning(pid)) continue;
                try
                {
                    File.Delete(file);
                    removed++;
                }
                catch (IOException) { }
                catch (UnauthorizedAccessException) { }
            }
        }
        return removed;
    }

    private static bool IsRunning(int pid)
    {
        try
        {
            using var p = System.Diagnostics.Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }
}
