namespace CrateMae.Training;

/// <summary>
/// MAE's per-iteration schedule (spec §6.1): linear warm-up to <c>lr</c> over <c>warmupEpochs</c>, then a half-cycle
/// cosine to <c>minLr</c> at <c>epochs</c>. <c>epoch</c> is fractional: epoch + step / steps_per_epoch.
/// </summary>
public sealed record LrSchedule(double Lr, double WarmupEpochs, double Epochs, double MinLr = 0)
{
    /// <summary>lr = blr × effective batch / 256 (MAE's linear scaling rule).</summary>
    public static double ScaledLr(double blr, int effectiveBatch) => blr * effectiveBatch / 256.0;

    public double At(double epoch)
    {
        if (epoch < WarmupEpochs) return Lr * epoch / WarmupEpochs;
        double span = Epochs - WarmupEpochs;
        if (span <= 0) return Lr;
        double progress = Math.Min(1.0, (epoch - WarmupEpochs) / span);
        return MinLr + (Lr - MinLr) * 0.5 * (1.0 + Math.Cos(Math.PI * progress));
    }
}
