using CrateMae.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace CrateMae.Analysis;

/// <summary>
/// Walks images through the encoder on the unmasked feature path (spec §2.12), block by block, and reads the
/// white-box quantities at every layer without hooks: the MSSA input projection, the block output, the attention.
/// </summary>
/// <remarks>
/// Per encoder layer ℓ (1-based) with input Z^ℓ:
/// <list type="bullet">
/// <item>coding rate: R^c of <see cref="IAttentionBlock.Projection"/>(Z^ℓ), i.e. A = LN₁(Z^ℓ)·[U_1 … U_K] for CRATE
/// (the reference hook on <c>qkv</c>, spec §7.1, N including cls). For ViT blocks the projection is the keys, the
/// nearest analogue (a ViT has no single subspace projection).</item>
/// <item>sparsity: zero fraction of the block output Z^{ℓ+1}, which for CRATE is the ISTA output (spec §7.2). For ViT
/// blocks it is the residual block output, which is practically never exactly zero — an honest baseline.</item>
/// <item>foreground ratio: how much of the head-averaged cls row of the block's attention (spec §7.4) falls on
/// foreground patches, relative to their share of the patches (1 = no preference).</item>
/// </list>
/// Runs under <c>no_grad</c> with one dispose scope per call; matrix products follow whatever
/// <see cref="MatmulPrecision"/> is in force on the calling thread (full float32 unless the caller chose otherwise).
/// Images are moved to the model's device.
/// </remarks>
public sealed class LayerProbe
{
    private readonly MaskedAutoencoder _model;
    private readonly IReadOnlyList<nn.Module<Tensor, Tensor>> _blocks;

    /// <param name="model">The model to inspect (not modified).</param>
    /// <param name="epsilon">ε of the coding rate (default 0.01).</param>
    /// <exception cref="ArgumentException">The model has no encoder blocks, a block exposes no attention, or ε is not positive.</exception>
    public LayerProbe(MaskedAutoencoder model, double epsilon = CodingRate.DefaultEpsilon)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (!(epsilon > 0) || !double.IsFinite(epsilon)) throw new ArgumentException($"epsilon must be a positive number, got {epsilon}", nameof(epsilon));
        _model = model;
        _blocks = model.EncoderBlocks;
        if (_blocks.Count == 0) throw new ArgumentException("the model has no encoder blocks to probe", nameof(model));
        for (int i = 0; i < _blocks.Count; i++)
            if (_blocks[i] is not IAttentionBlock)
                throw new ArgumentException($"encoder block {i} ({_blocks[i].GetType().Name}) does not implement {nameof(IAttentionBlock)}", nameof(model));
        Epsilon = epsilon;
    }

    /// <summary>The probed model.</summary>
    public MaskedAutoencoder Model => _model;

    /// <summary>ε used for the coding rate.</summary>
    public double Epsilon { get; }

    /// <summary>Number of encoder layers L.</summary>
    public int Depth => _blocks.Count;

    /// <summary>
    /// Measures one batch: for every encoder layer ℓ = 1 … L the per-image R^c of the MSSA input projection, the
    /// per-image zero fraction of the block output and the per-image foreground ratio of the block's head-averaged
    /// cls attention (foreground = <see cref="AttentionSaliency.ForegroundMask"/> of the images; NaN for an image
    /// that is all foreground or all background).
    /// </summary>
    /// <param name="imgs">Images [B, C, H, W] (float32, normalised, H and W divisible by the patch size).</param>
    public IReadOnlyList<LayerMeasurement> Measure(Tensor imgs)
    {
        ArgumentNullException.ThrowIfNull(imgs);
        var result = new List<LayerMeasurement>(Depth);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        int patch = _model.Config.PatchSize;
        var foreground = AttentionSaliency.ForegroundMask(imgs.cpu(), patch);   // [B, gh, gw]
        int gh = (int)foreground.shape[1], gw = (int)foreground.shape[2];
        var h = Embed(imgs);
        for (int l = 0; l < Depth; l++)
        {
            var block = _blocks[l];
            var attention = (IAttentionBlock)block;
            double[] rates;
            using (var projection = attention.Projection(h))                     // [B, N, K·d_h]
                rates = CodingRate.PerSample(projection, attention.Heads, Epsilon);
            IReadOnlyList<double> ratios;
            using (var maps = attention.AttentionMap(h))                         // [B, K, N, N]
            using (var cls = AttentionSaliency.ClsMaps(maps, gh, gw))            // [B, K, gh, gw]
            using (var mean = AttentionSaliency.HeadAverage(cls))                // [B, gh, gw]
                ratios = AttentionSaliency.ForegroundRatio(mean, foreground).PerImage;
            var next = block.forward(h);                                         // Z^{ℓ+1} [B, N, D]
            var zeros = Sparsity.ZeroFractions(next);
            h.Dispose();
            h = next;
            result.Add(new LayerMeasurement(l + 1, rates, zeros, ratios));
        }
        return result;
    }

    /// <summary>
    /// Softmax attention S_k of encoder block <paramref name="blockNumber"/> (1 … depth, default: the last), computed
    /// from LN₁ of that block's input on the unmasked path: [B, K, N, N] (rows sum to 1). Same definition as
    /// <see cref="MaskedAutoencoder.AttentionMaps"/> (spec §7.4).
    /// </summary>
    /// <exception cref="ArgumentException">The block number is outside 1 … depth.</exception>
    public Tensor AttentionMaps(Tensor imgs, int? blockNumber = null)
    {
        int l = _model.BlockIndex(blockNumber);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var h = InputOf(imgs, l);
        return ((IAttentionBlock)_blocks[l]).AttentionMap(h).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// PCA descriptors (spec §7.5 step 2): the attention input projection of encoder block <paramref name="blockNumber"/>
    /// (1 … depth, default: the last) with the cls token removed: [B, N − 1, K·d_h] (for CRATE LN₁(Z)·[U_1 … U_K]).
    /// </summary>
    /// <exception cref="ArgumentException">The block number is outside 1 … depth.</exception>
    public Tensor PatchDescriptors(Tensor imgs, int? blockNumber = null)
    {
        int l = _model.BlockIndex(blockNumber);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var h = InputOf(imgs, l);
        var projection = ((IAttentionBlock)_blocks[l]).Projection(h);
        return projection[.., 1..].contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>Number of heads K of encoder block <paramref name="blockNumber"/> (1 … depth, default: the last).</summary>
    /// <exception cref="ArgumentException">The block number is outside 1 … depth.</exception>
    public int HeadsOf(int? blockNumber = null) => ((IAttentionBlock)_blocks[_model.BlockIndex(blockNumber)]).Heads;

    /// <summary>Input of the block at 0-based index <paramref name="l"/>: the embedding followed by blocks 0 … l−1.</summary>
    private Tensor InputOf(Tensor imgs, int l)
    {
        var h = Embed(imgs);
        for (int i = 0; i < l; i++) h = _blocks[i].forward(h);
        return h;
    }

    private Tensor Embed(Tensor imgs)
    {
        ArgumentNullException.ThrowIfNull(imgs);
        var x = imgs.to(_model.parameters().First().device);
        return _model.EmbedUnmasked(x);
    }
}
