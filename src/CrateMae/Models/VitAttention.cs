using CrateMae.Kernels;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace CrateMae.Models;

/// <summary>timm multi-head self-attention (spec §3.7): fused <c>qkv</c> (D → 3D, optional bias), <c>proj</c> (D → D).</summary>
public sealed class VitAttention : nn.Module<Tensor, Tensor>, IKernelModule
{
    private readonly Linear qkv;
    private readonly Linear proj;
    private readonly int _heads;
    private readonly double _scale;

    public VitAttention(int dim, int heads, bool qkvBias) : base(nameof(VitAttention))
    {
        _heads = heads;
        _scale = 1.0 / Math.Sqrt(dim / heads);
        qkv = nn.Linear(dim, dim * 3, hasBias: qkvBias);
        proj = nn.Linear(dim, dim);
        RegisterComponents();
    }

    /// <summary>Fast kernels or the plain reference ops (<see cref="KernelOptions"/>); set for a whole model through <see cref="MaskedAutoencoder.Kernels"/>.</summary>
    public KernelOptions Kernels { get; set; } = KernelOptions.Default;

    public int Heads => _heads;

    /// <summary>[B, N, D] → (q, k, v), each [B, K, N, d_h].</summary>
    private (Tensor Q, Tensor K, Tensor V) QueryKeyValue(Tensor x)
    {
        var (b, n, d) = (x.shape[0], x.shape[1], x.shape[2]);
        using var fused = MatmulPrecision.Linear(x, qkv.weight!, qkv.bias);                // [B, N, 3D]
        using var split = fused.view(b, n, 3, _heads, d / _heads).permute(2, 0, 3, 1, 4);  // [3, B, K, N, d_h]
        return (split[0], split[1], split[2]);
    }

    /// <summary>Keys of all heads concatenated: [B, N, D].</summary>
    public Tensor Keys(Tensor x)
    {
        var (q, k, v) = QueryKeyValue(x);
        q.Dispose(); v.Dispose();
        using (k) return k.transpose(1, 2).flatten(2);
    }

    public Tensor AttentionMap(Tensor x)
    {
        using var scope = NewDisposeScope();
        var (q, k, _) = QueryKeyValue(x);
        return MatmulPrecision.Matmul(q.mul(_scale), k.transpose(-1, -2)).softmax(-1).MoveToOuterDisposeScope();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var (q, k, v) = QueryKeyValue(x);
        if (!Kernels.Reference && Kernels.ResolveAttention(MatmulPrecision.ComputeType, is_grad_enabled(), tiedQkv: false, device: q.device_type) == AttentionKernel.Sdpa)
        {
            // Fast path: the fused kernel reads the strided q, k, v views of the qkv output (default scale 1/√d_h).
            var (qr, kr, vr) = (MatmulPrecision.Cast(q), MatmulPrecision.Cast(k), MatmulPrecision.Cast(v));
            var fused = nn.functional.scaled_dot_product_attention(qr, kr, vr).transpose(1, 2).flatten(2);   // [B, N, D]
            return MatmulPrecision.Linear(fused, proj.weight!, proj.bias).MoveToOuterDisposeScope();
        }
        var attn = MatmulPrecision.Matmul(q.mul(_scale), k.transpose(-1, -2)).softmax(-1);  // [B, K, N, N]
        var o = MatmulPrecision.Matmul(attn, v).transpose(1, 2).flatten(2);                 // [B, N, D]
        return MatmulPrecision.Linear(o, proj.weight!, proj.bias).MoveToOuterDisposeScope();
    }
}
