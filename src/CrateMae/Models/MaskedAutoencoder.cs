using CrateMae.Kernels;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace CrateMae.Models;

/// <summary>
/// The masked autoencoder: CRATE-MAE (white-box CRATE blocks) or the ViT-MAE baseline, under the official CRATE-MAE
/// forward semantics (mask tokens enter the encoder, spec §2) or He et al.'s MAE semantics (spec §3.8).
/// Field names equal the PyTorch attributes so <c>state_dict()</c> keys match the official checkpoints (spec §4).
/// </summary>
public sealed class MaskedAutoencoder : nn.Module<Tensor, Tensor>, IKernelModule
{
    private readonly Parameter cls_token;
    private readonly Parameter pos_embed;
    private readonly Parameter mask_token;
    private readonly Parameter decoder_pos_embed;
    private readonly PatchEmbed patch_embed;
    private readonly ModuleList<nn.Module<Tensor, Tensor>> blocks;
    private readonly LayerNorm norm;
    private readonly Linear decoder_embed;
    private readonly ModuleList<nn.Module<Tensor, Tensor>> decoder_blocks;
    private readonly LayerNorm decoder_norm;
    private readonly Linear decoder_pred;

    public MaskedAutoencoder(MaeConfig config, Generator? generator = null) : base(nameof(MaskedAutoencoder))
    {
        Config = config.Validate();
        using var seeded = SeedGlobalFrom(generator);
        var c = config;
        int n = c.NumPatches + 1;
        cls_token = new Parameter(zeros(1, 1, c.EmbedDim));
        pos_embed = new Parameter(SinCosTable.Create(c.EmbedDim, c.GridSize), requires_grad: false);
        mask_token = new Parameter(zeros(1, 1, c.DecoderEmbedDim));
        decoder_pos_embed = new Parameter(SinCosTable.Create(c.DecoderEmbedDim, c.GridSize), requires_grad: false);
        patch_embed = new PatchEmbed(c.PatchSize, c.InChans, c.EmbedDim);
        blocks = nn.ModuleList(Enumerable.Range(0, c.Depth).Select(_ => c.Kind == BlockKind.Crate
            ? (nn.Module<Tensor, Tensor>)new CrateEncoderBlock(c.EmbedDim, c.NumHeads, c.Eta, c.Lambd)
            : new VitBlock(c.EmbedDim, c.NumHeads, c.MlpRatio, c.QkvBias, c.VitNormEps)).ToArray());
        norm = nn.LayerNorm(c.EmbedDim, eps: 1e-6);
        decoder_embed = nn.Linear(c.EmbedDim, c.DecoderEmbedDim);
        decoder_blocks = nn.ModuleList(Enumerable.Range(0, c.DecoderDepth).Select(_ => c.Kind == BlockKind.Crate
            ? (nn.Module<Tensor, Tensor>)new CrateDecoderBlock(c.DecoderEmbedDim, c.DecoderNumHeads)
            : new VitBlock(c.DecoderEmbedDim, c.DecoderNumHeads, c.MlpRatio, c.QkvBias, c.VitNormEps)).ToArray());
        decoder_norm = nn.LayerNorm(c.DecoderEmbedDim, eps: 1e-6);
        decoder_pred = nn.Linear(c.DecoderEmbedDim, c.PatchPixels);
        if (pos_embed.shape[1] != n) throw new InvalidOperationException("positional table size");
        RegisterComponents();
        Initialize(generator);
    }

    public MaeConfig Config { get; }

    private KernelOptions _kernels = KernelOptions.Default;

    /// <summary>
    /// Fast kernels or the plain reference ops for the whole model (<see cref="KernelOptions"/>; default
    /// <see cref="KernelOptions.Default"/>): setting it hands the options to every block.
    /// </summary>
    public KernelOptions Kernels
    {
        get => _kernels;
        set
        {
            ArgumentNullException.ThrowIfNull(value);
            _kernels = value;
            foreach (var (_, m) in named_modules())
                if (!ReferenceEquals(m, this) && m is IKernelModule k) k.Kernels = value;
        }
    }

    /// <summary>Encoder blocks, in order.</summary>
    public IReadOnlyList<nn.Module<Tensor, Tensor>> EncoderBlocks => blocks.ToList();

    /// <summary>Decoder blocks, in order.</summary>
    public IReadOnlyList<nn.Module<Tensor, Tensor>> DecoderBlocks => decoder_blocks.ToList();

    /// <summary>State-dict keys in PyTorch order (top-level tensors first: cls_token, pos_embed, mask_token, decoder_pos_embed).</summary>
    public IReadOnlyList<(string Key, Tensor Value)> OrderedStateDict()
    {
        string[] first = ["cls_token", "pos_embed", "mask_token", "decoder_pos_embed"];
        var sd = state_dict();
        return first.Select(k => (k, sd[k]))
            .Concat(sd.Where(kv => !first.Contains(kv.Key)).Select(kv => (kv.Key, kv.Value)))
            .ToList();
    }

    // ---------------------------------------------------------------------------------------------------------
    // Initialisation (spec §4)

    /// <summary>Re-initialises every trainable tensor as the official code does; the sin-cos tables are rebuilt.</summary>
    public void Initialize(Generator? generator = null)
    {
        using var _ = no_grad();
        using var seeded = SeedGlobalFrom(generator);
        nn.init.normal_(cls_token, 0, 0.02, generator);
        nn.init.normal_(mask_token, 0, 0.02, generator);
        // Patch projection: xavier-uniform on the (D, C·p·p) view; the conv bias keeps PyTorch's default U(±1/√fan_in).
        var w = patch_embed.Weight;
        long fanIn = w.shape[1] * w.shape[2] * w.shape[3];
        XavierUniform(w, fanIn, w.shape[0], generator);
        double biasBound = 1.0 / Math.Sqrt(fanIn);
        nn.init.uniform_(patch_embed.Bias, -biasBound, biasBound, generator);

        foreach (var (_, module) in named_modules())
        {
            switch (module)
            {
                case Linear lin:
                    XavierUniform(lin.weight!, lin.weight!.shape[1], lin.weight!.shape[0], generator);
                    if (lin.bias is { } b) nn.init.zeros_(b);
                    break;
                case LayerNorm ln:
                    nn.init.ones_(ln.weight!);
                    nn.init.zeros_(ln.bias!);
                    break;
                case IstaStep ista:
                    KaimingUniform(ista.Weight, generator);
                    break;
                case LinearMap map:
                    KaimingUniform(map.Weight, generator);
                    break;
            }
        }
    }

    /// <summary>
    /// TorchSharp 0.107's module constructors and nn.init functions draw from the global generator (the generator
    /// argument is ignored): with a generator, seed the global one from it and restore the global state on dispose,
    /// so a seeded model is reproducible and the caller's global stream is untouched.
    /// </summary>
    private static IDisposable? SeedGlobalFrom(Generator? generator)
    {
        if (generator is null) return null;
        var saved = random.get_rng_state();
        random.manual_seed((long)generator.initial_seed());
        return new RestoreRng(saved);
    }

    private sealed class RestoreRng(Tensor state) : IDisposable
    {
        public void Dispose()
        {
            random.set_rng_state(state);
            state.Dispose();
        }
    }

    /// <summary>Xavier/Glorot uniform: U(±√(6/(fan_in + fan_out))).</summary>
    private static void XavierUniform(Tensor w, long fanIn, long fanOut, Generator? generator)
    {
        double bound = Math.Sqrt(6.0 / (fanIn + fanOut));
        nn.init.uniform_(w, -bound, bound, generator);
    }

    /// <summary>PyTorch's <c>kaiming_uniform_</c> defaults (a = 0, fan_in, leaky_relu gain √2): U(±√(6/fan_in)).</summary>
    private static void KaimingUniform(Tensor w, Generator? generator)
    {
        double bound = Math.Sqrt(6.0 / w.shape[1]);
        nn.init.uniform_(w, -bound, bound, generator);
    }

    // ---------------------------------------------------------------------------------------------------------
    // Training path (spec §2)

    /// <summary>Loss only (for <c>Module&lt;Tensor, Tensor&gt;</c> callers), with the default mask ratio 0.75.</summary>
    public override Tensor forward(Tensor imgs)
    {
        using var output = Forward(imgs);
        return output.Loss.alias();
    }

    /// <summary>
    /// Masked forward pass: imgs [B, C, S, S] (normalised) → loss, pred, mask, ids_restore, latent.
    /// <paramref name="noise"/> [B, L] replays a masking; otherwise it is drawn uniformly with <paramref name="generator"/>.
    /// </summary>
    public MaeOutput Forward(Tensor imgs, double maskRatio = 0.75, Tensor? noise = null, Generator? generator = null)
    {
        CheckImages(imgs, requireTrainingSize: true);
        int keep = RandomMasking.KeepCount(Config.NumPatches, maskRatio);
        using var scope = NewDisposeScope();
        long b = imgs.shape[0];
        noise ??= rand(b, Config.NumPatches, generator: generator, device: imgs.device);
        if (noise.shape.Length != 2 || noise.shape[0] != b || noise.shape[1] != Config.NumPatches)
            throw new ArgumentException($"noise must have shape [{b}, {Config.NumPatches}], got [{string.Join(", ", noise.shape)}]");
        var (idsKeep, idsRestore, mask) = RandomMasking.FromNoise(noise.to(imgs.device), keep);

        var (latent, pred) = Config.Semantics == MaeSemantics.CrateMae
            ? ForwardCrateMae(imgs, idsKeep, idsRestore)
            : ForwardOfficialMae(imgs, idsKeep, idsRestore);
        var loss = ForwardLoss(imgs, pred, mask);
        return new MaeOutput(loss.MoveToOuterDisposeScope(), pred.MoveToOuterDisposeScope(), mask.MoveToOuterDisposeScope(),
            idsRestore.MoveToOuterDisposeScope(), latent.MoveToOuterDisposeScope());
    }

    /// <summary>CRATE-MAE code semantics (spec §2.5–2.8): returns (latent [B, N, D], pred [B, L, P]).</summary>
    private (Tensor Latent, Tensor Pred) ForwardCrateMae(Tensor imgs, Tensor idsKeep, Tensor idsRestore)
    {
        var x = patch_embed.forward(imgs);                                              // [B, L, D]
        var kept = GatherTokens(x, idsKeep);                                            // [B, L_keep, D]
        var tokens = InsertMaskTokens(kept, idsRestore);                                // [B, L, D]
        var h = ToStream(PrependCls(tokens, cls_token) + decoder_pos_embed);            // [B, N, D]
        var latent = RunEncoder(h);                                                     // [B, N, D]
        // The decoder reads the latent directly: no decoder_embed, no second positional table (spec §2.7). In a bf16
        // scope it runs on the encoder's bf16 stream (see ToStream); the latent is returned in float32.
        var latent32 = MatmulPrecision.ToFloat32(latent);
        return (latent32, Decode(Kernels.Float32DecoderStream ? latent32 : latent));
    }

    /// <summary>He et al.'s MAE semantics (spec §3.8): visible-only encoder, decoder_embed, then mask tokens.</summary>
    private (Tensor Latent, Tensor Pred) ForwardOfficialMae(Tensor imgs, Tensor idsKeep, Tensor idsRestore)
    {
        var x = patch_embed.forward(imgs) + pos_embed[.., 1..];                         // [B, L, D]
        var kept = GatherTokens(x, idsKeep);                                            // [B, L_keep, D]
        var h = ToStream(PrependCls(kept, cls_token + pos_embed[.., ..1]));             // [B, 1+L_keep, D]
        var latent = MatmulPrecision.ToFloat32(RunEncoder(h));
        var y = MatmulPrecision.Linear(latent, decoder_embed.weight!, decoder_embed.bias); // [B, 1+L_keep, D_d]
        var full = PrependCls(InsertMaskTokens(y[.., 1..], idsRestore), y[.., ..1]) + decoder_pos_embed; // [B, N, D_d]
        return (latent, Decode(Kernels.Float32DecoderStream ? full : ToStream(full)));
    }

    private Tensor RunEncoder(Tensor h)
    {
        foreach (var blk in blocks) h = blk.forward(h);
        return LayerNormSimd.Apply(norm, h, Kernels);
    }

    /// <summary>Decoder blocks → decoder_norm → decoder_pred, cls dropped: [B, N, D_d] → [B, L, P].</summary>
    private Tensor Decode(Tensor h)
    {
        foreach (var blk in decoder_blocks) h = blk.forward(h);
        h = LayerNormSimd.Apply(decoder_norm, h, Kernels);
        var pred = MatmulPrecision.Linear(h, decoder_pred.weight!, decoder_pred.bias);  // [B, N, P]
        return pred[.., 1..];                                                           // [B, L, P]
    }

    /// <summary>
    /// The activation stream of CRATE blocks: inside a bf16 scope it is stored in bf16 through the encoder blocks, the
    /// final norm, the decoder blocks and the decoder norm (norms and the softmax still compute in float32 inside their
    /// kernels; the latent, features and predictions leave in float32). Storing it in bf16 removes a cast before and
    /// after every product and halves the memory traffic of the element-wise work, which dominates at D ≤ 768 once the
    /// products run on AMX. CRATE has no residual path longer than half a block (ISTA restarts from a normalised input,
    /// the decoder's MSSA step subtracts from a fresh linear map), so nothing accumulates in bf16.
    /// ViT blocks and the reference path (<see cref="KernelOptions.Reference"/>) keep autocast's float32 stream.
    /// </summary>
    private Tensor ToStream(Tensor h) => Config.Kind == BlockKind.Crate && !Kernels.Reference ? MatmulPrecision.Cast(h) : h;

    private static Tensor GatherTokens(Tensor x, Tensor ids) =>
        x.gather(1, ids.unsqueeze(-1).expand(-1, -1, x.shape[2]));

    /// <summary>Appends mask tokens after the kept tokens and un-shuffles: [B, L_keep, D] → [B, L, D].</summary>
    private Tensor InsertMaskTokens(Tensor kept, Tensor idsRestore)
    {
        long b = kept.shape[0], l = idsRestore.shape[1], d = kept.shape[2];
        var masks = mask_token.expand(b, l - kept.shape[1], d);
        var all = cat([kept, masks], 1);                                                // shuffled order
        return all.gather(1, idsRestore.unsqueeze(-1).expand(-1, -1, d));
    }

    private static Tensor PrependCls(Tensor tokens, Tensor cls) =>
        cat([cls.expand(tokens.shape[0], -1, -1), tokens], 1);

    /// <summary>Masked-patch MSE (spec §2.10): mean over removed patches of the whole batch.</summary>
    public Tensor ForwardLoss(Tensor imgs, Tensor pred, Tensor mask)
    {
        using var scope = NewDisposeScope();
        var target = PatchTargets(imgs);
        var perPatch = (pred - target).square().mean([-1]);                             // [B, L]
        var loss = (perPatch * mask).sum() / mask.sum();
        return loss.MoveToOuterDisposeScope();
    }

    /// <summary>The regression targets: patchified pixels, normalised per patch when norm_pix_loss is on.</summary>
    public Tensor PatchTargets(Tensor imgs)
    {
        var target = Patches.Patchify(imgs, Config.PatchSize);                          // [B, L, P]
        if (!Config.NormPixLoss) return target;
        using var scope = NewDisposeScope();
        var mean = target.mean([-1], keepdim: true);
        var variance = target.var(-1, unbiased: true, keepdim: true);
        return ((target - mean) / (variance + 1e-6).sqrt()).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Pixel-space reconstruction [B, C, S, S] from <paramref name="pred"/>; with norm-pix targets the prediction is
    /// de-normalised with each true patch's mean and std (spec §2.10).
    /// </summary>
    public Tensor Reconstruct(Tensor imgs, Tensor pred)
    {
        using var scope = NewDisposeScope();
        var p = pred;
        if (Config.NormPixLoss)
        {
            var target = Patches.Patchify(imgs, Config.PatchSize);
            var mean = target.mean([-1], keepdim: true);
            var std = (target.var(-1, unbiased: true, keepdim: true) + 1e-6).sqrt();
            p = pred * std + mean;
        }
        return Patches.Unpatchify(p, Config.PatchSize, Config.InChans).MoveToOuterDisposeScope();
    }

    // ---------------------------------------------------------------------------------------------------------
    // Feature / visualisation path (spec §2.12)

    /// <summary>
    /// Unmasked tokens entering the encoder: patch embedding, cls, positional table (bicubically resampled when the
    /// patch grid differs from the training grid). imgs [B, C, H, W] with H, W divisible by p → [B, 1 + (H/p)(W/p), D].
    /// </summary>
    public Tensor EmbedUnmasked(Tensor imgs)
    {
        CheckImages(imgs, requireTrainingSize: false);
        using var scope = NewDisposeScope();
        var x = patch_embed.forward(imgs);                                              // [B, L', D]
        // CRATE-MAE semantics add decoder_pos_embed at the encoder input; official MAE adds pos_embed.
        var table = Config.Semantics == MaeSemantics.CrateMae ? decoder_pos_embed : pos_embed;
        long gh = imgs.shape[2] / Config.PatchSize, gw = imgs.shape[3] / Config.PatchSize;
        var pos = ResamplePositions(table, gh, gw);                                    // [1, 1 + gh·gw, D]
        var h = PrependCls(x, cls_token) + pos;                                        // cls gets table row 0
        return h.MoveToOuterDisposeScope();
    }

    private Tensor ResamplePositions(Tensor table, long gh, long gw)
    {
        int g = Config.GridSize;
        if (gh == g && gw == g) return table;
        long d = table.shape[2];
        var grid = table[.., 1..].reshape(1, g, g, d).permute(0, 3, 1, 2);             // [1, D, g, g]
        // Official recipe: scale factors ((S/p + 0.1)/g) passed as factors, not sizes, for bit-exact source mapping.
        var resized = nn.functional.interpolate(grid, scale_factor: [(gh + 0.1) / g, (gw + 0.1) / g],
            mode: InterpolationMode.Bicubic, align_corners: false);                     // [1, D, gh, gw]
        if (resized.shape[2] != gh || resized.shape[3] != gw)
            throw new InvalidOperationException($"positional table resampled to {resized.shape[2]}×{resized.shape[3]}, expected {gh}×{gw}");
        var patches = resized.permute(0, 2, 3, 1).reshape(1, gh * gw, d);
        return cat([table[.., ..1], patches], 1);
    }

    /// <summary>
    /// Encoder features of unmasked images: [B, N', D] after all encoder blocks and (by default) the final norm.
    /// For CRATE-MAE semantics at the training size this equals the training path with nothing masked.
    /// With <paramref name="blockNumber"/> = ℓ &lt; depth (1-based), the output Z^ℓ of block ℓ, without the final norm,
    /// which belongs to the last block.
    /// </summary>
    /// <exception cref="ArgumentException">The block number is outside 1 … depth.</exception>
    public Tensor ForwardFeatures(Tensor imgs, bool applyNorm = true, int? blockNumber = null)
    {
        int depth = Config.Depth;
        int run = BlockIndex(blockNumber) + 1;
        using var scope = NewDisposeScope();
        var h = ToStream(EmbedUnmasked(imgs));
        for (int i = 0; i < run; i++) h = blocks[i].forward(h);
        if (applyNorm && run == depth) h = LayerNormSimd.Apply(norm, h, Kernels);
        return MatmulPrecision.ToFloat32(h).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Softmax attention of encoder block <paramref name="blockNumber"/> (1 … depth, default: the last) on the unmasked
    /// path, from LN₁ of that block's input: [B, K, N', N'].
    /// </summary>
    /// <exception cref="ArgumentException">The block number is outside 1 … depth.</exception>
    public Tensor AttentionMaps(Tensor imgs, int? blockNumber = null)
    {
        int l = BlockIndex(blockNumber);
        using var scope = NewDisposeScope();
        var h = ToStream(EmbedUnmasked(imgs));
        for (int i = 0; i < l; i++) h = blocks[i].forward(h);
        return ((IAttentionBlock)blocks[l]).AttentionMap(h).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The 0-based index into the encoder blocks of block number <paramref name="blockNumber"/> (1 … depth, as the
    /// CLI's <c>--layer</c> counts; default: the last). Out of range is an error naming the valid range, never silence.
    /// </summary>
    /// <exception cref="ArgumentException">The block number is outside 1 … depth, or the encoder has no blocks.</exception>
    public int BlockIndex(int? blockNumber)
    {
        int depth = Config.Depth;
        if (depth == 0) throw new ArgumentException("the model has no encoder blocks");
        int n = blockNumber ?? depth;
        if (n < 1 || n > depth)
            throw new ArgumentException($"block number {n} is out of range: the encoder has {depth} blocks, numbered 1 … {depth}");
        return n - 1;
    }

    private void CheckImages(Tensor imgs, bool requireTrainingSize)
    {
        var c = Config;
        if (imgs.dim() != 4)
            throw new ArgumentException($"images must be [B, C, H, W], got [{string.Join(", ", imgs.shape)}]");
        if (imgs.shape[1] != c.InChans)
            throw new ArgumentException($"images have {imgs.shape[1]} channels; model '{c.Name}' expects {c.InChans}");
        if (imgs.dtype != ScalarType.Float32)
            throw new ArgumentException($"images must be float32, got {imgs.dtype}");
        if (requireTrainingSize && (imgs.shape[2] != c.ImgSize || imgs.shape[3] != c.ImgSize))
            throw new ArgumentException($"images are {imgs.shape[2]}×{imgs.shape[3]}; model '{c.Name}' trains on {c.ImgSize}×{c.ImgSize}");
        if (imgs.shape[2] % c.PatchSize != 0 || imgs.shape[3] % c.PatchSize != 0)
            throw new ArgumentException($"image size {imgs.shape[2]}×{imgs.shape[3]} is not divisible by the patch size {c.PatchSize}");
        using (NewDisposeScope())
        {
            var finite = isfinite(imgs).flatten(1).all(1);    // one cheap pass; the intermediates die with the scope
            if (!finite.all().item<bool>())
            {
                long row = finite.logical_not().nonzero()[0, 0].item<long>();
                throw new ArgumentException($"images contain NaN or Inf (first in batch row {row}); model '{c.Name}' needs finite inputs");
            }
        }
    }
}
