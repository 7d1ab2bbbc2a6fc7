namespace CrateMae.Evaluation;

/// <summary>Where the fine-tuning head starts.</summary>
public enum HeadStart
{
    /// <summary>
    /// LP-FT (Kumar et al., ICLR 2022): the head starts as the linear probe of the frozen encoder (fitted on the
    /// un-augmented training images, λ chosen on a validation split), so fine-tuning starts at the probe's accuracy and
    /// the first gradients refine the encoder instead of undoing it to fit a random head.
    /// </summary>
    Probe,

    /// <summary>MAE's <c>main_finetune.py</c>: a truncated-normal head (std <see cref="FineTuneOptions.HeadInitStd"/>), bias 0.</summary>
    Random,
}
