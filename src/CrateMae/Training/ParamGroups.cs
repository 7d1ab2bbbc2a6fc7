using static TorchSharp.torch;

namespace CrateMae.Training;

/// <summary>One optimiser parameter group: named parameters with a weight decay and an lr multiplier.</summary>
public sealed record ParamGroup(string Name, IReadOnlyList<(string Key, TorchSharp.Modules.Parameter Param)> Params,
    double WeightDecay, double LrScale = 1.0);

/// <summary>MAE's weight-decay split (<c>param_groups_weight_decay</c>).</summary>
public static class ParamGroups
{
    /// <summary>
    /// Trainable parameters only (frozen tables excluded). No decay for 1-D tensors (biases, norms) and names ending
    /// in ".bias"; decay for weights and the cls/mask tokens.
    /// </summary>
    public static IReadOnlyList<ParamGroup> WeightDecaySplit(nn.Module module, double weightDecay)
    {
        var decay = new List<(string, TorchSharp.Modules.Parameter)>();
        var noDecay = new List<(string, TorchSharp.Modules.Parameter)>();
        foreach (var (name, p) in module.named_parameters())
        {
            if (!p.requires_grad) continue;
            if (p.dim() == 1 || name.EndsWith(".bias", StringComparison.Ordinal)) noDecay.Add((name, p));
            else decay.Add((name, p));
        }
        return [new ParamGroup("no_decay", noDecay, 0.0), new ParamGroup("decay", decay, weightDecay)];
    }
}
