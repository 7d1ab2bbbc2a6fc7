using TorchSharp.Modules;

namespace CrateMae.Evaluation;

/// <summary>
/// One parameter group of MAE's <c>param_groups_lrd</c>: all parameters sharing a layer id and a decay flag.
/// </summary>
/// <param name="Name"><c>layer_{id}_decay</c> or <c>layer_{id}_no_decay</c>, as MAE names them.</param>
/// <param name="LayerId">0 for cls/pos/patch_embed, i + 1 for block i, depth + 1 for the final norm and the head.</param>
/// <param name="LrScale">layer_decay^(depth + 1 − layer_id); the group's lr is base lr × this.</param>
/// <param name="WeightDecay">The group's decoupled weight decay (0 for 1-D parameters and the no-decay names).</param>
/// <param name="ParameterNames">Member names (autoencoder-relative, plus <c>head.*</c>), in registration order.</param>
/// <param name="Parameters">The member parameters, parallel to <paramref name="ParameterNames"/>.</param>
public sealed record LayerDecayGroup(string Name, int LayerId, double LrScale, double WeightDecay,
    IReadOnlyList<string> ParameterNames, IReadOnlyList<Parameter> Parameters);
