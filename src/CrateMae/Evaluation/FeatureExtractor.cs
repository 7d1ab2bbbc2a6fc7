using CrateMae.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace CrateMae.Evaluation;

/// <summary>
/// Frozen-encoder features for downstream evaluation: runs <see cref="MaskedAutoencoder.ForwardFeatures"/> (unmasked,
/// final norm applied) on every batch and pools the tokens (<see cref="Pooling"/>).
/// </summary>
/// <remarks>
/// Batch ownership: each batch is fetched (<c>MoveNext</c>) and processed inside its own
/// <c>torch.NewDisposeScope()</c>, so tensors an enumerator creates while producing a batch are disposed once that batch
/// is done. Tensors created before enumeration started (e.g. a dataset held in memory that batches are sliced from) are
/// not touched. An enumerator that must keep a tensor alive across batches has to detach it from the scope.
/// </remarks>
public static class FeatureExtractor
{
    /// <summary>
    /// Extracts pooled features for every image in <paramref name="batches"/>, under <c>torch.no_grad()</c> with the
    /// model in eval mode (its previous training flag is restored afterwards).
    /// </summary>
    /// <param name="model">The encoder; its parameters must already live on <paramref name="device"/>.</param>
    /// <param name="batches">Images [B, C, S, S] float32 (normalised as in pre-training) and labels [B] (any integer dtype).</param>
    /// <param name="pooling">cls token or mean of patch tokens.</param>
    /// <param name="device">Where the forward pass runs (default: CPU). Images are moved there per batch.</param>
    /// <returns>Features [n, D] float32 and labels [n] int64, both on the CPU and owned by the caller's dispose scope.</returns>
    public static (Tensor Features, Tensor Labels) Extract(MaskedAutoencoder model,
        IEnumerable<(Tensor Images, Tensor Labels)> batches, Pooling pooling, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(batches);
        device ??= CPU;
        var modelDevice = model.parameters().First().device;
        if (modelDevice.type != device.type || (device.type != DeviceType.CPU && modelDevice.index != device.index))
            throw new ArgumentException($"device: the model's parameters are on {modelDevice} but features were requested on {device}; " +
                                        "move the model first (model.to(device)) or pass its device", nameof(device));

        bool wasTraining = model.training;
        model.eval();
        try
        {
            using var _ = no_grad();
            return Collect(batches, (images, _) =>
            {
                var tokens = model.ForwardFeatures(images.to(device), applyNorm: true);   // [B, N, D]
                return Pool(tokens, pooling);
            });
        }
        finally
        {
            model.train(wasTraining);
        }
    }

    /// <summary>Reduces tokens [B, N, D] (cls at index 0) to [B, D].</summary>
    public static Tensor Pool(Tensor tokens, Pooling pooling)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        if (tokens.dim() != 3)
            throw new ArgumentException($"tokens must be [B, N, D], got [{string.Join(", ", tokens.shape)}]", nameof(tokens));
        return pooling switch
        {
            Pooling.Cls => tokens[.., 0],
            Pooling.Mean when tokens.shape[1] < 2 =>
                throw new ArgumentException("pooling 'mean' needs at least one patch token besides the cls token", nameof(tokens)),
            Pooling.Mean => tokens[.., 1..].mean([1]),
            Pooling.Grid => GridPool(tokens),
            _ => throw new ArgumentOutOfRangeException(nameof(pooling), pooling, "pooling must be Cls, Mean or Grid"),
        };
    }

    /// <summary>Quadrant means of the patch tokens of [B, 1 + g², D]: [B, 4D] (see <see cref="Pooling.Grid"/>).</summary>
    private static Tensor GridPool(Tensor tokens)
    {
        long b = tokens.shape[0], patches = tokens.shape[1] - 1, d = tokens.shape[2];
        long g = (long)Math.Round(Math.Sqrt(patches));
        if (g < 2 || g * g != patches)
            throw new ArgumentException($"pooling 'grid' needs a square grid of at least 2×2 patch tokens besides the cls token; got {patches}", nameof(tokens));
        using var scope = NewDisposeScope();
        var grid = tokens[.., 1..].reshape(b, g, g, d).permute(0, 3, 1, 2);                // [B, D, g, g]
        var quadrants = nn.functional.adaptive_avg_pool2d(grid, [2, 2]);                     // [B, D, 2, 2]
        return quadrants.permute(0, 2, 3, 1).reshape(b, 4 * d).MoveToOuterDisposeScope();  // [B, 4D]
    }

    /// <summary>
    /// Shared batch loop: fetches and maps each batch inside its own dispose scope, keeps a float32 CPU copy of the
    /// mapped features and an int64 CPU copy of the labels, and concatenates them at the end.
    /// </summary>
    internal static (Tensor Features, Tensor Labels) Collect(IEnumerable<(Tensor Images, Tensor Labels)> batches,
        Func<Tensor, Tensor, Tensor> map)
    {
        var features = new List<Tensor>();
        var labels = new List<Tensor>();
        try
        {
            using var e = batches.GetEnumerator();
            for (int index = 0; ; index++)
            {
                using var scope = NewDisposeScope();
                if (!e.MoveNext()) break;
                var (images, y) = e.Current;
                if (images is null || y is null)
                    throw new ArgumentException($"batches: batch {index} has a null images or labels tensor", nameof(batches));
                if (images.dim() < 1 || y.dim() != 1 || y.shape[0] != images.shape[0])
                    throw new ArgumentException($"batches: batch {index} has images [{string.Join(", ", images.shape)}] and labels " +
                                                $"[{string.Join(", ", y.shape)}]; expected labels [B] with the images' batch size", nameof(batches));
                if (y.dtype is ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Float32 or ScalarType.Float64 or ScalarType.Bool)
                    throw new ArgumentException($"batches: batch {index} has {y.dtype} labels; expected integer class indices", nameof(batches));
                var f = map(images, y);
                if (f.dim() != 2 || f.shape[0] != images.shape[0])
                    throw new InvalidOperationException($"feature map returned [{string.Join(", ", f.shape)}] for a batch of {images.shape[0]}");
                features.Add(f.to(float32, CPU).contiguous().DetachFromDisposeScope());
                labels.Add(y.to(int64, CPU).contiguous().DetachFromDisposeScope());
            }
            if (features.Count == 0)
                throw new ArgumentException("batches: the sequence yielded no batches", nameof(batches));
            return (cat(features, 0), cat(labels, 0));
        }
        finally
        {
            foreach (var t in features) t.Dispose();
            foreach (var t in labels) t.Dispose();
        }
    }
}
