using CrateMae.Kernels;
using CrateMae.Models;
using static TorchSharp.torch;

namespace CrateMae.Training;

/// <summary>
/// One pre-training step as <see cref="Pretrainer"/> runs it (and <see cref="ThroughputBenchmark"/> measures it): masked
/// forward under the chosen matmul precision, backward of loss / accumIter, and at an accumulation boundary optional
/// gradient clipping, the AdamW update and zeroing of the gradients.
/// </summary>
public static class TrainingStep
{
    /// <summary>Runs the step and returns the (unscaled) loss; the update is skipped when the loss is not finite.</summary>
    public static double Run(MaskedAutoencoder model, AdamW optimizer, Tensor images, Tensor noise, double maskRatio,
        ScalarType? precision, double lr, int accumIter = 1, bool applyUpdate = true, double? clipGrad = null)
    {
        double loss;
        using (MatmulPrecision.Use(precision))
        {
            using var output = model.Forward(images, maskRatio, noise);
            loss = output.Loss.item<float>();
            using var scaled = accumIter == 1 ? output.Loss.alias() : output.Loss / accumIter;
            scaled.backward();
            AutogradHandoff.ReleaseAll();
        }
        if (applyUpdate && double.IsFinite(loss))
        {
            if (clipGrad is { } clip)
                nn.utils.clip_grad_norm_(optimizer.Groups.SelectMany(g => g.Params).Select(p => p.Param), clip);
            optimizer.Step(lr);
            optimizer.ZeroGrad();
        }
        return loss;
    }
}
