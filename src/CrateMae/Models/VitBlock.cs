using TorchSharp.Modules;
using static TorchSharp.torch;

namespace CrateMae.Models;

/// <summary>Pre-norm ViT block (timm "Block", spec §3.7): x ← x + Attn(LN₁(x)); x ← x + MLP(LN₂(x)).</summary>
public sealed class VitBlock : nn.Module<Tensor, Tensor>, IAttentionBlock
{
    private readonly LayerNorm norm1;
    private readonly VitAttention attn;
    private readonly LayerNorm norm2;
    private readonly VitMlp mlp;

    public VitBlock(int dim, int heads, double mlpRatio, bool qkvBias, double normEps) : base(nameof(VitBlock))
    {
        norm1 = nn.LayerNorm(dim, eps: normEps);
        attn = new VitAttention(dim, heads, qkvBias);
        norm2 = nn.LayerNorm(dim, eps: normEps);
        mlp = new VitMlp(dim, (int)(dim * mlpRatio));
        RegisterComponents();
    }

    public int Heads => attn.Heads;

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = x + attn.forward(norm1.forward(x));               // [B, N, D]
        var y = h + mlp.forward(norm2.forward(h));                // out of place: LN₂ saved `h`
        return y.MoveToOuterDisposeScope();
    }

    public Tensor AttentionMap(Tensor x)
    {
        using var n1 = norm1.forward(x);
        return attn.AttentionMap(n1);
    }

    public Tensor Projection(Tensor x)
    {
        using var n1 = norm1.forward(x);
        return attn.Keys(n1);
    }
}
