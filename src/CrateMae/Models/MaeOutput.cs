using static TorchSharp.torch;

namespace CrateMae.Models;

/// <summary>
/// Result of a masked forward pass: scalar <paramref name="Loss"/>, <paramref name="Pred"/> [B, L, p²C],
/// <paramref name="Mask"/> [B, L] (float, 1 = removed), <paramref name="IdsRestore"/> [B, L] (int64) and the encoder
/// output <paramref name="Latent"/> (after the final norm; [B, N, D] under CRATE-MAE semantics, [B, 1+L_keep, D] under
/// official-MAE semantics).
/// </summary>
public sealed record MaeOutput(Tensor Loss, Tensor Pred, Tensor Mask, Tensor IdsRestore, Tensor Latent) : IDisposable
{
    public void Dispose()
    {
        Loss.Dispose();
        Pred.Dispose();
        Mask.Dispose();
        IdsRestore.Dispose();
        Latent.Dispose();
    }
}
