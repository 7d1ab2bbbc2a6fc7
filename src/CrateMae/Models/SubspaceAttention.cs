using CrateMae.Kernels;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace CrateMae.Models;

/// <summary>
/// MSSA, multi-head subspace self-attention (spec §3.2): one bias-free projection <c>qkv</c> plays query, key and
/// value, so head k attends with S_k = softmax(A_k A_kᵀ/√d_h), A_k = X U_k; heads are concatenated and mixed by
/// <c>to_out</c>. (The paper ties the output to [U_1 … U_K]; the code uses a free linear layer with bias.)
/// </summary>
public sealed class SubspaceAttention : nn.Module<Tensor, Tensor>, IKernelModule
{
    private readonly Linear qkv;
    private readonly Sequential to_out;
    private readonly int _heads;
    private readonly double _scale;

    public SubspaceAttention(int dim, int heads) : base(nameof(SubspaceAttention))
    {
        _heads = heads;
        int headDim = dim / heads;
        int inner = headDim * heads;
        _scale = 1.0 / Math.Sqrt(headDim);
        qkv = nn.Linear(dim, inner, hasBias: false);
        // The official code drops the output projection when a single head spans the whole width.
        to_out = heads == 1 && headDim == dim ? nn.Sequential() : nn.Sequential(nn.Linear(inner, dim));
        RegisterComponents();
    }

    /// <summary>Fast kernels or the plain reference ops (<see cref="KernelOptions"/>); set for a whole model through <see cref="MaskedAutoencoder.Kernels"/>.</summary>
    public KernelOptions Kernels { get; set; } = KernelOptions.Default;

    public Linear Qkv => qkv;

    /// <summary>False in the edge case K = 1, d_h = D, where the official code has no output projection.</summary>
    internal bool HasOutputProjection => to_out.Count != 0;

    /// <summary>The subspace projections A = X·[U_1 … U_K]: [B, N, D] → [B, N, K·d_h].</summary>
    public Tensor Project(Tensor x) => MatmulPrecision.Linear(x, qkv.weight!);

    /// <summary>Per-head attention matrices S_k: [B, N, D] → [B, K, N, N] (rows sum to 1).</summary>
    public Tensor AttentionMap(Tensor x)
    {
        using var w = SplitHeads(Project(x));
        using var dots = MatmulPrecision.Matmul(w, w.transpose(-1, -2)).mul_(_scale);
        return dots.softmax(-1);
    }

    /// <summary>MSSA(X) in float32.</summary>
    public override Tensor forward(Tensor x)
    {
        if (Kernels.Reference) return ForwardReference(x);
        using var y = ForwardMixed(x);
        return y.dtype == ScalarType.Float32 ? y.alias() : y.to(ScalarType.Float32);
    }

    /// <summary>
    /// MSSA(X) on the fast path, in the compute dtype of <see cref="MatmulPrecision"/> (bf16 inside a bf16 scope: the
    /// caller adds it to a float32 stream by type promotion).
    /// </summary>
    internal Tensor ForwardMixed(Tensor x)
    {
        if (Kernels.Reference) return ForwardReference(x);
        using var scope = NewDisposeScope();
        var a = MatmulPrecision.LinearKeep(x, qkv.weight!);                   // A [B, N, K·d_h]
        var merged = Attend(a);                                               // [B, N, K·d_h]
        if (to_out.Count == 0) return merged.MoveToOuterDisposeScope();
        var lin = (Linear)to_out[0];
        return MatmulPrecision.LinearKeep(merged, lin.weight!, lin.bias).MoveToOuterDisposeScope();
    }

    /// <summary>softmax(A_k A_kᵀ/√d_h) A_k for every head, heads concatenated: [B, N, K·d_h] → [B, N, K·d_h] (same dtype).</summary>
    private Tensor Attend(Tensor a)
    {
        var (b, n, inner) = (a.shape[0], a.shape[1], a.shape[2]);
        long dh = inner / _heads;
        var kernel = Kernels.ResolveAttention(a.dtype, is_grad_enabled(), tokens: n, device: a.device_type, headWidth: dh);
        // float32, one head at a time in the cache, reading the heads in place and writing them merged
        if (kernel == AttentionKernel.Fused && FusedAttentionF32.Supports(a, _heads, Kernels.VectorBits))
            return FusedAttentionF32.Of(a, _heads, _scale, Kernels.VectorBits);
        var heads = a.view(b, n, _heads, dh).transpose(1, 2);                     // [B, K, N, d_h] (strided view)
        if (kernel == AttentionKernel.Sdpa)
        {
            // The fused kernel reads the strided heads and writes its output [B, N, K, d_h]-major, so merging is a view.
            var o = nn.functional.scaled_dot_product_attention(heads, heads, heads);
            return o.transpose(1, 2).reshape(b, n, inner);
        }
        var w = heads.contiguous().view(b * _heads, n, dh);                       // one copy serves all three products
        // softmax(A_k A_kᵀ/√d_h) A_k with a fused backward. In bf16 the softmax loads bf16 scores, computes max, exp and
        // sum in float32 and rounds only the probabilities (the operand of the next bf16 product) to bf16; its backward
        // likewise accumulates in float32.
        var mixed = ExplicitAttention.Of(w, _scale, Kernels.VectorBits);                              // [B·K, N, d_h]
        return mixed.view(b, _heads, n, dh).transpose(1, 2).reshape(b, n, inner);
    }

    /// <summary>The plain official-form computation (test oracle).</summary>
    private Tensor ForwardReference(Tensor x)
    {
        using var scope = NewDisposeScope();
        var w = SplitHeads(Project(x));                                       // [B, K, N, d_h]
        var dots = MatmulPrecision.Matmul(w, w.transpose(-1, -2)).mul_(_scale);   // [B, K, N, N]
        var attn = dots.softmax(-1);
        var o = MatmulPrecision.Matmul(attn, w);                              // [B, K, N, d_h]
        var merged = o.transpose(1, 2).flatten(2);                            // [B, N, K·d_h]
        var y = to_out.Count == 0 ? merged : OutProject(merged);              // [B, N, D]
        return y.MoveToOuterDisposeScope();
    }

    private Tensor OutProject(Tensor merged)
    {
        var lin = (Linear)to_out[0];
        return MatmulPrecision.Linear(merged, lin.weight!, lin.bias);
    }

    private Tensor SplitHeads(Tensor a)
    {
        var (b, n, inner) = (a.shape[0], a.shape[1], a.shape[2]);
        using (a) return a.view(b, n, _heads, inner / _heads).transpose(1, 2);   // [B, K, N, d_h]
    }
}
