using static TorchSharp.torch;

namespace CrateMae.Models;

/// <summary>An encoder block whose attention can be inspected (for saliency maps, coding rate and PCA features).</summary>
public interface IAttentionBlock
{
    /// <summary>Per-head softmax matrices computed from LN₁ of the block input: [B, N, D] → [B, K, N, N].</summary>
    Tensor AttentionMap(Tensor x);

    /// <summary>The attention's input projection of LN₁(x): for CRATE the subspace projections A (B, N, K·d_h); for ViT the keys (as DINO-style feature visualisations use).</summary>
    Tensor Projection(Tensor x);

    /// <summary>Number of heads.</summary>
    int Heads { get; }
}
