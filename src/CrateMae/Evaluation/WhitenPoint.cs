namespace CrateMae.Evaluation;

/// <summary>One point of the k-NN's validation curve over whitening sizes (JSON: <c>{"components", "val_top1"}</c>).</summary>
/// <param name="Components">Whitened PCA components the neighbours were found in; 0 = the features as they are.</param>
/// <param name="ValTop1">Validation top-1 accuracy, a fraction in [0, 1].</param>
public sealed record WhitenPoint(int Components, double ValTop1);
