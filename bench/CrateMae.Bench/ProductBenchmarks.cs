using BenchmarkDotNet.Attributes;
using CrateMae.Kernels;
using CrateMae.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace CrateMae.Bench;

/// <summary>
/// The matrix products of one crate-small training step at 224 px, batch 8 (B·K = 96 heads of width 48 on N = 197
/// tokens; B·N = 1,576 token rows of width D = 576), one product per benchmark, so that the per-shape rates of a step
/// can be measured. Two libtorch threads, as in the results of docs/performance.md §5; the step runs the same products
/// on the same thread count.
/// </summary>
public abstract class ProductBenchmarks
{
    [Params("bf16", "fp32")]
    public string Precision { get; set; } = "bf16";

    [Params(2)]
    public int Threads { get; set; } = 2;

    protected ScalarType DType => Precision == "bf16" ? ScalarType.BFloat16 : ScalarType.Float32;

    private Generator? _generator;

    protected Tensor RandomFloat32(params long[] shape) => randn(shape, generator: _generator);

    protected Tensor Random(params long[] shape)
    {
        var x = RandomFloat32(shape);
        if (DType == ScalarType.Float32) return x;
        using (x) return x.to(DType);
    }

    [GlobalSetup]
    public void Setup()
    {
        set_num_threads(Threads);
        using (_generator = new Generator(0)) Build();   // the inputs are drawn once, from a generator of their own
        _generator = null;
    }

    protected abstract void Build();
}

/// <summary>
/// The attention core's products on [96, 197, d] heads: the Gram product α·A·Aᵀ as MSSA computes it (one
/// <c>baddbmm</c>), the value product P·A, and the backward's Pᵀ·dO (a transposed probability operand). d = 64 is the
/// head width padded to whole AMX tiles, for comparing the two.
/// </summary>
public class AttentionProductBenchmark : ProductBenchmarks
{
    private Tensor? _a, _p, _zero;

    [Params(48, 64)]
    public int HeadWidth { get; set; } = 48;

    protected override void Build()
    {
        _a = Random(96, 197, HeadWidth);
        _p = Random(96, 197, 197);
        _zero = zeros(1, 1, 1, dtype: DType);
    }

    [Benchmark]
    public long Gram()
    {
        using var s = Products.Baddbmm(_zero!, _a!, _a!.transpose(1, 2), 0, 0.144f);   // [96, 197, 197]
        return s.numel();
    }

    [Benchmark]
    public long Value()
    {
        using var o = _p!.bmm(_a!);                                                    // [96, 197, d]
        return o.numel();
    }

    [Benchmark]
    public long TransposedValue()
    {
        using var o = _p!.transpose(1, 2).bmm(_a!);                                    // [96, 197, d]
        return o.numel();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _a?.Dispose();
        _p?.Dispose();
        _zero?.Dispose();
    }
}

/// <summary>
/// A linear layer's three products on 1,576 token rows of width 576: forward x·Wᵀ, input gradient dy·W, and the weight
/// gradient dyᵀ·x in the three ways it can be written (the transposed view autograd passes, (xᵀ·dy)ᵀ, and a contiguous
/// dyᵀ); and the per-use cast of a float32 master weight to the compute dtype.
/// </summary>
public class LinearProductBenchmark : ProductBenchmarks
{
    private Tensor? _x, _dy, _dyT, _w, _w32;

    protected override void Build()
    {
        _x = Random(1576, 576);
        _dy = Random(1576, 576);
        _dyT = _dy.t().contiguous();
        _w32 = RandomFloat32(576, 576);
        _w = _w32.to(DType, copy: true);
    }

    [Benchmark]
    public long Forward()
    {
        using var y = nn.functional.linear(_x!, _w!);
        return y.numel();
    }

    [Benchmark]
    public long InputGradient()
    {
        using var dx = _dy!.mm(_w!);
        return dx.numel();
    }

    [Benchmark]
    public long WeightGradient()
    {
        using var dw = _dy!.t().mm(_x!);
        return dw.numel();
    }

    [Benchmark]
    public long WeightGradientSwapped()
    {
        using var dwT = _x!.t().mm(_dy!);
        return dwT.numel();
    }

    [Benchmark]
    public long WeightGradientContiguous()
    {
        using var dw = _dyT!.mm(_x!);
        return dw.numel();
    }

    /// <summary>The cast a bf16 product makes of its float32 weight (in fp32: a plain copy, for scale).</summary>
    [Benchmark]
    public long WeightCast()
    {
        using var w = _w32!.to(DType, copy: true);
        return w.numel();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var t in new[] { _x, _dy, _dyT, _w, _w32 }) t?.Dispose();
    }
}
