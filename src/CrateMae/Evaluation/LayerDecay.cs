using TorchSharp;
using TorchSharp.Modules;

namespace CrateMae.Evaluation;

/// <summary>
/// Layer-wise learning-rate decay for fine-tuning, a port of MAE's <c>util/lr_decay.py</c> (after BEiT):
/// layer id 0 for <c>cls_token</c>/<c>pos_embed</c>/<c>patch_embed.*</c>, i + 1 for <c>blocks.i.*</c>, and
/// L = depth + 1 for everything else (final norm, head); lr scale = layer_decay^(L − layer_id); parameters that are
/// 1-D (biases, norm weights) or named in the no-weight-decay list get weight decay 0. Groups appear in the order their
/// first parameter is registered.
/// </summary>
public static class LayerDecay
{
    /// <summary>MAE's <c>model.no_weight_decay()</c> names plus this model's other positional/token tensors.</summary>
    public static IReadOnlyList<string> DefaultNoWeightDecay { get; } = ["cls_token", "pos_embed", "decoder_pos_embed", "dist_token"];

    /// <summary>MAE's <c>get_layer_id_for_vit</c> for an autoencoder-relative parameter name.</summary>
    /// <param name="name">e.g. <c>blocks.3.layers.0.0.fn.qkv.weight</c>.</param>
    /// <param name="numLayers">depth + 1.</param>
    public static int LayerId(string name, int numLayers)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name is "cls_token" or "pos_embed" or "decoder_pos_embed") return 0;
        if (name.StartsWith("patch_embed", StringComparison.Ordinal)) return 0;
        if (name.StartsWith("blocks", StringComparison.Ordinal))
        {
            var parts = name.Split('.');
            if (parts.Length < 2 || !int.TryParse(parts[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int block))
                throw new ArgumentException($"parameter '{name}' starts with 'blocks' but has no block index", nameof(name));
            return block + 1;
        }
        return numLayers;
    }

    /// <summary>
    /// Parameter groups of <paramref name="model"/>'s classification path (see
    /// <see cref="FineTuneClassifier.ClassificationParameters"/>), MAE defaults weight_decay 0.05, layer_decay 0.75.
    /// </summary>
    public static IReadOnlyList<LayerDecayGroup> ParamGroups(FineTuneClassifier model, double weightDecay = 0.05,
        double layerDecay = 0.75, IEnumerable<string>? noWeightDecay = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (!(weightDecay >= 0) || !double.IsFinite(weightDecay))
            throw new ArgumentOutOfRangeException(nameof(weightDecay), weightDecay, "weightDecay must be a finite number ≥ 0");
        if (!(layerDecay > 0 && layerDecay <= 1))
            throw new ArgumentOutOfRangeException(nameof(layerDecay), layerDecay, "layerDecay must be in (0, 1]");
        var skip = new HashSet<string>(noWeightDecay ?? DefaultNoWeightDecay, StringComparer.Ordinal);
        int numLayers = model.Depth + 1;

        var order = new List<string>();
        var groups = new Dictionary<string, (int Id, double Wd, List<string> Names, List<Parameter> Params)>();
        foreach (var (name, p) in model.ClassificationParameters())
        {
            bool noDecay = p.dim() == 1 || skip.Contains(name);
            int id = LayerId(name, numLayers);
            var key = $"layer_{id}_{(noDecay ? "no_decay" : "decay")}";
            if (!groups.TryGetValue(key, out var g))
            {
                g = (id, noDecay ? 0.0 : weightDecay, [], []);
                groups[key] = g;
                order.Add(key);
            }
            g.Names.Add(name);
            g.Params.Add(p);
        }
        return order.Select(k =>
        {
            var g = groups[k];
            return new LayerDecayGroup(k, g.Id, Math.Pow(layerDecay, numLayers - g.Id), g.Wd, g.Names, g.Params);
        }).ToArray();
    }

    /// <summary>
    /// TorchSharp AdamW over <paramref name="groups"/>, each with lr = <paramref name="baseLr"/> × scale and its own
    /// weight decay passed explicitly (TorchSharp's AdamW default weight decay is 0, unlike PyTorch's 0.01).
    /// </summary>
    public static AdamW CreateAdamW(IReadOnlyList<LayerDecayGroup> groups, double baseLr, double beta1 = 0.9, double beta2 = 0.999,
        double eps = 1e-8)
    {
        ArgumentNullException.ThrowIfNull(groups);
        if (groups.Count == 0) throw new ArgumentException("groups must not be empty", nameof(groups));
        if (!(baseLr >= 0) || !double.IsFinite(baseLr)) throw new ArgumentOutOfRangeException(nameof(baseLr), baseLr, "baseLr must be ≥ 0");
        var pg = groups.Select(g => new AdamW.ParamGroup(g.Parameters, new AdamW.Options
        {
            LearningRate = baseLr * g.LrScale,
            InitialLearningRate = baseLr * g.LrScale,
            beta1 = beta1,
            beta2 = beta2,
            eps = eps,
            weight_decay = g.WeightDecay,
            amsgrad = false,
            maximize = false,
        })).ToArray();
        return torch.optim.AdamW(pg, baseLr, beta1, beta2, eps, weight_decay: 0.0);
    }

    /// <summary>Sets every group's lr to <paramref name="lr"/> × its scale (what MAE's <c>adjust_learning_rate</c> does per step).</summary>
    public static void SetLearningRate(OptimizerHelper optimizer, IReadOnlyList<LayerDecayGroup> groups, double lr)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        ArgumentNullException.ThrowIfNull(groups);
        var pgs = optimizer.ParamGroups.ToArray();
        if (pgs.Length != groups.Count)
            throw new ArgumentException($"the optimiser has {pgs.Length} parameter groups but {groups.Count} layer-decay groups were given", nameof(groups));
        for (int i = 0; i < pgs.Length; i++) pgs[i].LearningRate = lr * groups[i].LrScale;
    }
}
