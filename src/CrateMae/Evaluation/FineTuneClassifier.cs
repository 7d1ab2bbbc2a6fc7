using CrateMae.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace CrateMae.Evaluation;

/// <summary>
/// End-to-end fine-tuning model: the pretrained encoder path of a <see cref="MaskedAutoencoder"/> (patch embedding,
/// cls token, positional table, encoder blocks, final norm — exactly <see cref="MaskedAutoencoder.ForwardFeatures"/>)
/// followed by a linear <c>head</c> on the mean of the patch tokens (cls excluded).
/// </summary>
/// <remarks>
/// The autoencoder is registered as the submodule <c>mae</c>, so parameter names are <c>mae.blocks.0.…</c>,
/// <c>head.weight</c>, …. Its decoder (and the mask token) stay in the module and the state dict but receive no
/// gradient; <see cref="LayerDecay.ParamGroups"/> leaves them out of the optimiser.
/// The head is initialised as in MAE's <c>main_finetune.py</c>: weight ~ trunc-normal(0, std) truncated to [−2, 2]
/// (default std 2e-5, MAE's value; pass 0.02 for the timm ViT default), bias 0.
/// Difference from MAE's <c>global_pool</c> ViT: MAE drops the final norm and applies a new <c>fc_norm</c> after
/// pooling; here the pretrained final norm is kept and applied per token before pooling.
/// </remarks>
public sealed class FineTuneClassifier : nn.Module<Tensor, Tensor>
{
    private readonly MaskedAutoencoder mae;
    private readonly Linear head;

    /// <param name="pretrained">The (pretrained) autoencoder; it becomes part of this module (not copied).</param>
    /// <param name="numClasses">Output classes (≥ 2).</param>
    /// <param name="headInitStd">Std of the head's truncated-normal weight init.</param>
    /// <param name="generator">Random source for the head init (deterministic when given).</param>
    public FineTuneClassifier(MaskedAutoencoder pretrained, int numClasses, double headInitStd = 2e-5, Generator? generator = null)
        : base(nameof(FineTuneClassifier))
    {
        ArgumentNullException.ThrowIfNull(pretrained);
        if (numClasses < 2) throw new ArgumentOutOfRangeException(nameof(numClasses), numClasses, "numClasses must be ≥ 2");
        if (!(headInitStd >= 0) || !double.IsFinite(headInitStd))
            throw new ArgumentOutOfRangeException(nameof(headInitStd), headInitStd, "headInitStd must be a finite number ≥ 0");
        mae = pretrained;
        var device = pretrained.parameters().First().device;
        head = nn.Linear(pretrained.Config.EmbedDim, numClasses, device: device);
        using (no_grad())
        {
            TruncNormal_(head.weight!, headInitStd, -2, 2, generator);
            nn.init.zeros_(head.bias!);
        }
        NumClasses = numClasses;
        RegisterComponents();
    }

    /// <summary>The wrapped autoencoder (submodule <c>mae</c>).</summary>
    public MaskedAutoencoder Encoder => mae;

    /// <summary>The classification head Linear(D → C) (submodule <c>head</c>).</summary>
    public Linear Head => head;

    public int NumClasses { get; }

    /// <summary>Encoder depth (number of blocks).</summary>
    public int Depth => mae.Config.Depth;

    /// <summary>Logits [B, C] for images [B, C_in, S, S] (float32, normalised as in pre-training).</summary>
    public override Tensor forward(Tensor imgs)
    {
        using var scope = NewDisposeScope();
        return head.forward(PooledFeatures(imgs)).MoveToOuterDisposeScope();
    }

    /// <summary>Mean of the final-normed patch tokens, cls excluded: [B, D].</summary>
    public Tensor PooledFeatures(Tensor imgs)
    {
        using var scope = NewDisposeScope();
        var tokens = mae.ForwardFeatures(imgs, applyNorm: true);
        return FeatureExtractor.Pool(tokens, Pooling.Mean).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Trainable parameters of the classification path, with names relative to the autoencoder (<c>cls_token</c>,
    /// <c>patch_embed.proj.weight</c>, <c>blocks.0.…</c>, <c>norm.weight</c>) and <c>head.weight</c>/<c>head.bias</c>,
    /// in registration order. Decoder parameters, the mask token and frozen tensors (requires_grad false) are omitted.
    /// </summary>
    public IReadOnlyList<(string Name, Parameter Parameter)> ClassificationParameters()
    {
        var list = new List<(string, Parameter)>();
        foreach (var (name, p) in mae.named_parameters())
        {
            if (!p.requires_grad || !IsEncoderPath(name)) continue;
            list.Add((name, p));
        }
        foreach (var (name, p) in head.named_parameters())
            if (p.requires_grad) list.Add(("head." + name, p));
        return list;
    }

    /// <summary>
    /// N(0, std²) truncated to [a, b] (absolute bounds, as PyTorch's <c>trunc_normal_</c>), by redrawing out-of-range
    /// entries. Written out because TorchSharp 0.107's <c>nn.init.trunc_normal_</c> fills the tensor with a constant.
    /// </summary>
    internal static void TruncNormal_(Tensor t, double std, double a, double b, Generator? generator)
    {
        using var scope = NewDisposeScope();
        t.normal_(0, std, generator);
        for (int round = 0; round < 1000; round++)
        {
            var outside = t.lt(a).logical_or_(t.gt(b));
            long count = outside.sum().item<long>();
            if (count == 0) return;
            t.masked_scatter_(outside, normal(0, std, [count], generator: generator, dtype: t.dtype, device: t.device));
        }
        throw new InvalidOperationException($"truncated normal: [{a}, {b}] holds too little of N(0, {std}²) to sample from");
    }

    /// <summary>Whether an autoencoder parameter name belongs to the unmasked encoder path used here.</summary>
    internal static bool IsEncoderPath(string name) =>
        name is "cls_token" or "pos_embed" or "decoder_pos_embed"
        || name.StartsWith("patch_embed.", StringComparison.Ordinal)
        || name.StartsWith("blocks.", StringComparison.Ordinal)
        || name.StartsWith("norm.", StringComparison.Ordinal);
}
