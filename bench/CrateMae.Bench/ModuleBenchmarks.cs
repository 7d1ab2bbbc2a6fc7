using BenchmarkDotNet.Attributes;
using CrateMae.Kernels;
using CrateMae.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace CrateMae.Bench;

/// <summary>Which implementation runs: the plain official-form ops or the fast kernels (<see cref="KernelOptions"/>).</summary>
public enum Path { Reference, Fast }

/// <summary>
/// Common set-up of the hot-module benchmarks: a block input [B, N, D] at a preset's width and token count (224 px,
/// patch 16: N = 197), one libtorch thread (the stable setting on a shared machine), forward alone or forward +
/// backward (the gradient of the output's sum), fp32 or bf16 (the fast encoder-side modules then get a bf16 input, as
/// in the model).
/// </summary>
public abstract class ModuleBenchmarks
{
    private torch.Tensor? _x;
    private ScalarType? _dtype;

    /// <summary>crate-small (D 576, 12 heads) or crate-base (D 768, 12 heads).</summary>
    [Params("crate-small", "crate-base")]
    public string Model { get; set; } = "crate-small";

    [Params(8)]
    public int Batch { get; set; } = 8;

    [Params("fp32", "bf16")]
    public string Precision { get; set; } = "fp32";

    [Params(Path.Reference, Path.Fast)]
    public Path Path { get; set; }

    [Params(false, true)]
    public bool Backward { get; set; }

    protected MaeConfig Config { get; private set; } = Presets.Get("crate-small");

    protected abstract nn.Module<torch.Tensor, torch.Tensor> Module { get; }

    protected abstract void Build();

    [GlobalSetup]
    public void Setup()
    {
        torch.set_num_threads(1);
        torch.random.manual_seed(0);
        Config = Presets.Get(Model);
        Build();
        Module.UseKernels(Path == Path.Reference ? KernelOptions.ReferenceOps : KernelOptions.Default);
        foreach (var p in Module.parameters()) nn.init.uniform_(p, -0.05, 0.05);
        _dtype = MatmulPrecision.Parse(Precision);
        // As inside the model: the fast path carries a bf16 activation stream through every CRATE block (encoder and
        // decoder), the reference path autocast's float32 one.
        using var x = torch.randn(Batch, Config.NumPatches + 1, Config.EmbedDim);
        _x = (Path == Path.Fast && _dtype is { } dt ? x.to(dt) : x.clone()).requires_grad_(Backward);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _x?.Dispose();
        Module.Dispose();
    }

    [Benchmark]
    public long Run()
    {
        using var scope = torch.NewDisposeScope();
        using var precision = MatmulPrecision.Use(_dtype);
        using var grad = torch.set_grad_enabled(Backward);
        var y = Module.forward(_x!);
        if (Backward)
        {
            y.sum().backward();
            foreach (var p in Module.parameters()) { p.grad?.Dispose(); p.grad = null; }
            _x!.grad?.Dispose();
            _x.grad = null;
        }
        return y.numel();
    }
}

/// <summary>LN is not included: MSSA on an already normalised input (fn of the PreNorm).</summary>
public class MssaBenchmark : ModuleBenchmarks
{
    private SubspaceAttention? _m;
    protected override nn.Module<torch.Tensor, torch.Tensor> Module => _m!;
    protected override void Build() => _m = new SubspaceAttention(Config.EmbedDim, Config.NumHeads);
}

public class IstaBenchmark : ModuleBenchmarks
{
    private IstaStep? _m;
    protected override nn.Module<torch.Tensor, torch.Tensor> Module => _m!;
    protected override void Build() => _m = new IstaStep(Config.EmbedDim, Config.Eta, Config.Lambd);
}

public class EncoderBlockBenchmark : ModuleBenchmarks
{
    private CrateEncoderBlock? _m;
    protected override nn.Module<torch.Tensor, torch.Tensor> Module => _m!;
    protected override void Build() => _m = new CrateEncoderBlock(Config.EmbedDim, Config.NumHeads, Config.Eta, Config.Lambd);
}

public class DecoderBlockBenchmark : ModuleBenchmarks
{
    private CrateDecoderBlock? _m;
    protected override nn.Module<torch.Tensor, torch.Tensor> Module => _m!;
    protected override void Build() => _m = new CrateDecoderBlock(Config.DecoderEmbedDim, Config.DecoderNumHeads);
}
