using System.Net;
using System.Net.Sockets;
using CrateMae.Interop;
using CrateMae.Models;
using CrateMae.Tests.Data;
using CrateMae.Tests.Support;
using CrateMae.Training;
using Xunit.Abstractions;
using static CrateMae.Tests.Interop.InteropTestSupport;
using static TorchSharp.torch;

namespace CrateMae.Tests.Interop;

/// <summary>
/// The scale-out round trip: our config and weights → PyTorch's official model under DistributedDataParallel (gloo,
/// two processes) → the trained state dict loaded back by crate-mae, whose features equal PyTorch's.
/// </summary>
[Collection(InteropCollection.Name)]
public sealed class DdpRoundTripTests(ITestOutputHelper output) : IDisposable
{
    private readonly TempDirectory _tmp = new();

    public void Dispose() => _tmp.Dispose();

    private static string Script => Path.Combine(Fixtures.RepoRoot, "python", "crate_mae_ddp.py");

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    [SkippableFact]
    public void Given_our_weights_When_pretrained_with_pytorch_ddp_on_two_processes_Then_crate_mae_loads_the_result_with_equal_features()
    {
        Skip.If(TorchUnavailableReason is not null, $"PyTorch for /usr/bin/python3: {TorchUnavailableReason} (scripts/setup.sh installs python3-torch)");
        using var scope = NewDisposeScope();
        var config = Presets.Resolve(Reliability.Cli.TinyModel);
        using var start = new MaskedAutoencoder(config, manual_seed(21));
        var configPath = _tmp.File("config.json");
        File.WriteAllText(configPath, config.ToJson());
        var startPth = _tmp.File("start.pth");
        ModelSource.Save(start, startPth);
        var (trained, features) = (_tmp.File("trained.pth"), _tmp.File("features.pth"));

        var (code, stdout, stderr) = RunPythonFile(Script,
            ["--config", configPath, "--weights", startPth, "--out", trained, "--synthetic", "64", "--steps", "6",
             "--batch-size", "8", "--warmup-steps", "2", "--log-every", "1", "--nproc", "2", "--port", FreePort().ToString(),
             "--features", features],
            stdin: "", TimeSpan.FromMinutes(2));
        output.WriteLine(stdout + stderr);
        Assert.True(code == 0, $"crate_mae_ddp.py failed ({code}):\n{stderr}\n{stdout}");
        Assert.Contains("\"world\": 2", stdout);
        Assert.Contains("\"step\": 5", stdout);

        using var loaded = ModelSource.Load(trained, configPath);
        using var reference = StateDictFile.Load(features);
        using var noGrad = no_grad();
        loaded.Model.eval();
        var ours = loaded.Model.ForwardFeatures(reference["images"]);
        TensorAssert.RelativeToMax(ours, reference["features"], 1e-5, "features after DDP pre-training");
        var moved = start.OrderedStateDict().Zip(loaded.Model.OrderedStateDict())
            .Count(p => p.First.Value.requires_grad && !p.First.Value.allclose(p.Second.Value));
        Assert.True(moved > 0, "no trainable tensor changed: DDP did not train");
    }
}
