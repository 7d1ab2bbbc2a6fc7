using CrateMae.Kernels;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace CrateMae.Models;

/// <summary><c>fn(LN(x))</c>: the official code's "PreNorm" wrapper (keys <c>norm.*</c>, <c>fn.*</c>); LN eps 1e-5.</summary>
public sealed class PreNorm<TFn> : nn.Module<Tensor, Tensor>, IKernelModule where TFn : nn.Module<Tensor, Tensor>
{
    private readonly LayerNorm norm;
    private readonly TFn fn;

    public PreNorm(int dim, TFn inner) : base("PreNorm")
    {
        norm = nn.LayerNorm(dim, eps: 1e-5);
        fn = inner;
        RegisterComponents();
    }

    /// <summary>Fast kernels or the plain reference ops (<see cref="KernelOptions"/>); set for a whole model through <see cref="MaskedAutoencoder.Kernels"/>.</summary>
    public KernelOptions Kernels { get; set; } = KernelOptions.Default;

    public LayerNorm Norm => norm;
    public TFn Fn => fn;

    public override Tensor forward(Tensor x)
    {
        using var normed = LayerNormSimd.Apply(norm, x, Kernels);    // libtorch's LN, or the vector kernels where they apply
        return fn.forward(normed);
    }
}
