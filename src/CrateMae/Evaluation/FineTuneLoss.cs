using static TorchSharp.torch;

namespace CrateMae.Evaluation;

/// <summary>Classification losses for fine-tuning (mean over the batch).</summary>
public static class FineTuneLoss
{
    /// <summary>
    /// Cross-entropy with label smoothing ε: the target puts 1 − ε + ε/C on the true class and ε/C elsewhere, i.e.
    /// (1 − ε)·NLL + ε·mean_c(−log p_c) (timm's <c>LabelSmoothingCrossEntropy</c>, PyTorch's <c>label_smoothing</c>).
    /// </summary>
    /// <param name="logits">[B, C].</param>
    /// <param name="labels">[B] integer class indices.</param>
    /// <param name="smoothing">ε in [0, 1); MAE fine-tuning uses 0.1.</param>
    public static Tensor CrossEntropy(Tensor logits, Tensor labels, double smoothing = 0.0)
    {
        CheckLogits(logits);
        ArgumentNullException.ThrowIfNull(labels);
        if (labels.dim() != 1 || labels.shape[0] != logits.shape[0])
            throw new ArgumentException($"labels must be [B] with B = {logits.shape[0]}, got [{string.Join(", ", labels.shape)}]", nameof(labels));
        if (labels.is_floating_point()) throw new ArgumentException($"labels must hold class indices, got {labels.dtype}", nameof(labels));
        if (!(smoothing >= 0 && smoothing < 1))
            throw new ArgumentOutOfRangeException(nameof(smoothing), smoothing, "label smoothing must be in [0, 1)");
        using var scope = NewDisposeScope();
        var logp = logits.log_softmax(1);
        var nll = -logp.gather(1, labels.to(int64).unsqueeze(1)).squeeze(1);       // [B]
        var loss = smoothing == 0 ? nll.mean() : ((1 - smoothing) * nll - smoothing * logp.mean([1])).mean();
        return loss.MoveToOuterDisposeScope();
    }

    /// <summary>Cross-entropy against soft targets [B, C] (rows summing to 1), as used after mixup: mean_b Σ_c −t·log p.</summary>
    public static Tensor SoftTargetCrossEntropy(Tensor logits, Tensor targets)
    {
        CheckLogits(logits);
        ArgumentNullException.ThrowIfNull(targets);
        if (!targets.shape.SequenceEqual(logits.shape))
            throw new ArgumentException($"targets must match logits [{string.Join(", ", logits.shape)}], got [{string.Join(", ", targets.shape)}]", nameof(targets));
        using var scope = NewDisposeScope();
        var loss = (-targets * logits.log_softmax(1)).sum(1).mean();
        return loss.MoveToOuterDisposeScope();
    }

    private static void CheckLogits(Tensor logits)
    {
        ArgumentNullException.ThrowIfNull(logits);
        if (logits.dim() != 2 || logits.shape[0] == 0)
            throw new ArgumentException($"logits must be a non-empty [B, C] matrix, got [{string.Join(", ", logits.shape)}]", nameof(logits));
    }
}
