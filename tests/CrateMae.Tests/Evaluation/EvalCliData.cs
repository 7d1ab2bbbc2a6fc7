using CrateMae.Data;
using CrateMae.Models;
using CrateMae.Training;
using TorchSharp;

namespace CrateMae.Tests.Evaluation;

/// <summary>
/// A tiny world for the evaluation commands: an MNIST-layout folder of 8×8 images of three separable classes and a
/// tiny CrateMae checkpoint (<see cref="TinyModels.Config"/>) in a run-folder-like layout.
/// </summary>
internal sealed class EvalCliData : IDisposable
{
    public EvalCliData(int trainCount = 60, int testCount = 30)
    {
        Root = Path.Combine(Path.GetTempPath(), "cratemae-evalcli-" + Guid.NewGuid().ToString("N"));
        DataDir = Path.Combine(Root, "data");
        RunDir = Path.Combine(Root, "run");
        Directory.CreateDirectory(DataDir);
        Directory.CreateDirectory(RunDir);
        WriteSplit("train", trainCount, seed: 1);
        WriteSplit("t10k", testCount, seed: 2);
        SaveCheckpoint(seed: 3);
    }

    public string Root { get; }
    public string DataDir { get; }
    public string RunDir { get; }
    public string Checkpoint => Path.Combine(RunDir, "final.ckpt");
    public string EvalDir => Path.Combine(RunDir, "eval");
    public string Spec => "mnist:" + DataDir;

    /// <summary>(Re)writes the run's final.ckpt with a tiny model of <paramref name="depth"/> encoder blocks initialised from <paramref name="seed"/>.</summary>
    public void SaveCheckpoint(int seed, int depth = 1)
    {
        torch.random.manual_seed(seed);
        using var model = new MaskedAutoencoder(TinyModels.Config(depth), new torch.Generator((ulong)seed));
        var artifacts = new RunArtifacts(NormalizationStats.Mnist, "mnist:test-data");
        CrateMae.Training.Checkpoint.Save(Checkpoint, model, null, null, null, artifacts.CheckpointMetadata);
    }

    /// <summary>
    /// Classes 0, 1, 2 (label = index % 3): dark, bright, vertical stripes, with ±40 grey levels of noise. They differ
    /// in every patch's content, so even mean-pooled tokens of a random encoder can tell them apart.
    /// </summary>
    private void WriteSplit(string prefix, int count, int seed)
    {
        var rng = new Random(seed);
        var pixels = new byte[count * 64];
        var labels = new byte[count];
        for (int i = 0; i < count; i++)
        {
            int label = i % 3;
            labels[i] = (byte)label;
            for (int y = 0; y < 8; y++)
            for (int x = 0; x < 8; x++)
            {
                int v = label switch { 0 => 50, 1 => 200, _ => x % 2 == 0 ? 30 : 220 } + rng.Next(-40, 41);
                pixels[i * 64 + y * 8 + x] = (byte)Math.Clamp(v, 0, 255);
            }
        }
        IdxFile.Write(Path.Combine(DataDir, $"{prefix}-images-idx3-ubyte"), IdxDataType.UInt8, [count, 8, 8], pixels);
        IdxFile.Write(Path.Combine(DataDir, $"{prefix}-labels-idx1-ubyte"), IdxDataType.UInt8, [count], labels);
    }

    public void Dispose()
    {
        if (Environment.GetEnvironmentVariable("CRATEMAE_KEEP_TEST_OUTPUT") is { Length: > 0 }) return;
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { }
    }
}
