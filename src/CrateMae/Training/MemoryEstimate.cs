using System.Globalization;
using CrateMae.Models;

namespace CrateMae.Training;

/// <summary>
/// What a training run will need in memory, known before anything is allocated, checked against what the operating
/// system says is available: a model or batch that cannot fit is refused in one line instead of being killed by the
/// out-of-memory killer part-way (and taking other work on a shared machine with it).
/// </summary>
/// <remarks>
/// The estimate adds
/// <list type="bullet">
/// <item>the model: float32 parameters, their gradients and AdamW's two moments, 16 bytes a parameter (exact);</item>
/// <item>the activations autograd keeps for the backward, per block about <see cref="TokenTensorsPerBlock"/> tensors of
/// [B, N, width] plus the attention probabilities [B, K, N, N] (float32; 2 bytes an element with bf16 activations),
/// encoder and decoder alike;</item>
/// <item>the process itself (.NET, libtorch and their libraries): <see cref="ProcessBaseBytes"/>.</item>
/// </list>
/// The activation term is an approximation of what the official-form computation keeps (the fused kernels keep less);
/// it is there to catch a batch or model that is off by a large factor, not to predict the peak to the megabyte.
/// </remarks>
public static class MemoryEstimate
{
    /// <summary>Token-width tensors kept per block for the backward (norm inputs and outputs, projections, the ISTA step).</summary>
    public const int TokenTensorsPerBlock = 12;

    /// <summary>Resident memory of the process before any model: the .NET runtime, libtorch and the other libraries.</summary>
    public const long ProcessBaseBytes = 400L << 20;

    /// <summary>The estimate in bytes: (model, activations, total).</summary>
    public static (long Model, long Activations, long Total) Training(MaeConfig config, int batch, bool bf16Activations)
    {
        ArgumentNullException.ThrowIfNull(config);
        double model = 16.0 * ParameterCount.Of(config).Total;
        double activations = EncoderActivations(config, batch, bf16Activations)
                             + BlockActivations(config, config.DecoderDepth, config.DecoderEmbedDim, config.DecoderNumHeads, batch, bf16Activations);
        double total = model + activations + ProcessBaseBytes;
        return (Saturate(model), Saturate(activations), Saturate(total));
    }

    /// <summary>
    /// Fine-tuning: the whole autoencoder is loaded (4 bytes a parameter) but only the encoder path and the head train
    /// (12 more bytes a parameter for gradients and AdamW's moments); activations of the encoder blocks only, for the
    /// training step and again for the test pass after each epoch (its forward keeps its intermediates until the batch's
    /// dispose scope ends, and the allocator keeps that memory); and, when
    /// the head starts as the linear probe, the probe stage before it (<see cref="ProbeStageBytes"/> for
    /// <paramref name="probeImages"/> training images), whose memory the allocator keeps for the process.
    /// Returns (model, activations and probe, total) in bytes.
    /// </summary>
    public static (long Model, long Activations, long Total) FineTuning(MaeConfig config, int batch, bool bf16Activations, long probeImages)
    {
        ArgumentNullException.ThrowIfNull(config);
        var counts = ParameterCount.Of(config);
        double model = 4.0 * counts.Total + 12.0 * (counts.EncoderTrainable + (long)config.EmbedDim * 1000);   // head ≤ 1000 classes
        double probe = probeImages > 0 ? ExtractionBytes(config, batch, probeImages, poolings: 1) + ProbeBytes(probeImages, config.EmbedDim) : 0;
        double activations = 2 * EncoderActivations(config, batch, bf16Activations) + probe;   // the training step and the test pass
        return (Saturate(model), Saturate(activations), Saturate(model + activations + ProcessBaseBytes));
    }

    /// <summary>
    /// linprobe / knn: the frozen model (4 bytes a parameter) and the larger of the two stages, since the second reuses
    /// what the first freed: extracting the encoder's features of <paramref name="images"/> images
    /// (<see cref="ExtractionBytes"/>; none when <paramref name="extracts"/> is false, e.g. raw pixels only), and
    /// probing the <paramref name="featureDim"/>-wide features (a float32 train and test copy plus
    /// <see cref="ProbeBytes"/>). Returns (model, data, total) in bytes.
    /// </summary>
    public static (long Model, long Data, long Total) FeatureEvaluation(MaeConfig config, int batch, long images, int featureDim, bool extracts = true)
    {
        ArgumentNullException.ThrowIfNull(config);
        double model = 4.0 * ParameterCount.Of(config).Total;
        double extraction = extracts ? ExtractionBytes(config, batch, images, poolings: 6) : 0;
        double probing = 2.0 * images * featureDim * 4 + ProbeBytes(images, featureDim);
        double data = Math.Max(extraction, probing);
        return (Saturate(model), Saturate(data), Saturate(model + data + ProcessBaseBytes));
    }

    /// <summary>
    /// One pass of the frozen encoder over <paramref name="images"/> images: a batch's forward keeps every intermediate
    /// until its dispose scope ends (the <see cref="TokenTensorsPerBlock"/> tensors and the attention of every block,
    /// as in training), and the allocator keeps more from earlier batches: <see cref="ExtractionRetention"/> times one
    /// batch in all; plus the collected features (<paramref name="poolings"/> × D float32 an image, twice while they are
    /// concatenated).
    /// </summary>
    public static long ExtractionBytes(MaeConfig config, int batch, long images, int poolings) =>
        Saturate(ExtractionRetention * EncoderActivations(config, batch, bf16Activations: false) + 2.0 * images * poolings * config.EmbedDim * 4);

    /// <summary>
    /// Batches' worth of forward intermediates an extraction pass holds at its peak (measured with glibc's allocator:
    /// peaks of 2.7–3.6 GB for crate-fmnist over 70,000 images at batch 256, docs/reliability.md).
    /// </summary>
    public const double ExtractionRetention = 2.5;

    /// <summary>
    /// The linear probe's float64 working set for <paramref name="images"/> × <paramref name="featureDim"/> features:
    /// the managed copy, the standardised tensor, the whitened product it fits on, and the validation search's
    /// training part (90 % of each): about four copies of 8 bytes an element, plus the D×D whitening matrices.
    /// The k-NN's working set stays below it, so one bound covers both commands: its PCA whitening (<c>knn --whiten</c>)
    /// holds at most two float64 copies of the training features (the fit's copy and its centred copy), and the
    /// validation split one float32 copy.
    /// </summary>
    public static long ProbeBytes(long images, int featureDim) =>
        Saturate(4.0 * images * featureDim * 8 + 4.0 * featureDim * (double)featureDim * 8);

    private static double EncoderActivations(MaeConfig config, int batch, bool bf16Activations) =>
        BlockActivations(config, config.Depth, config.EmbedDim, config.NumHeads, batch, bf16Activations);

    /// <summary>What <paramref name="depth"/> blocks of one width keep for a batch: token tensors and attention probabilities.</summary>
    private static double BlockActivations(MaeConfig config, int depth, int width, int heads, int batch, bool bf16Activations)
    {
        double element = bf16Activations ? 2 : 4;
        double n = config.NumPatches + 1;
        return depth * batch * (TokenTensorsPerBlock * n * width + heads * n * n) * element;
    }

    /// <summary>MemAvailable of <c>/proc/meminfo</c> in bytes, or null where it cannot be read (not Linux).</summary>
    public static long? AvailableBytes()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/meminfo"))
                if (line.StartsWith("MemAvailable:", StringComparison.Ordinal)
                    && long.TryParse(line["MemAvailable:".Length..].Trim().Split(' ')[0], NumberStyles.None, CultureInfo.InvariantCulture, out var kb))
                    return kb * 1024;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        return null;
    }

    /// <summary>
    /// Throws <see cref="ArgumentException"/> with one line (both numbers and what would make it fit) when the
    /// estimate exceeds <paramref name="available"/> (default: <see cref="AvailableBytes"/>; unknown = no check).
    /// </summary>
    /// <param name="what">The command, for the message (e.g. "pretrain").</param>
    public static void EnsureFits(string what, MaeConfig config, int batch, bool bf16Activations, long? available = null) =>
        EnsureFits(what, Training(config, batch, bf16Activations), batch, bf16Activations, available);

    /// <summary><see cref="EnsureFits(string, MaeConfig, int, bool, long?)"/> for an estimate made by another of the methods above.</summary>
    public static void EnsureFits(string what, (long Model, long Activations, long Total) estimate, int batch, bool bf16Activations, long? available = null)
    {
        available ??= AvailableBytes();
        if (available is not { } free) return;
        var (model, activations, total) = estimate;
        if (total <= free) return;
        string fix = activations > model
            ? $"a smaller --batch-size or --limit (the activations and data of batch {batch} alone need about {Megabytes(activations)})" + (bf16Activations ? "" : " or --precision bf16")
            : $"a smaller model (its weights, gradients and optimizer state alone need about {Megabytes(model)})";
        throw new ArgumentException(
            $"{what} would need about {Megabytes(total)} of memory but {Megabytes(free)} are available; use {fix}, or --force to try anyway");
    }

    /// <summary>Bytes as whole megabytes (MiB) for messages, e.g. "1,184 MB".</summary>
    public static string Megabytes(long bytes) => $"{bytes / (1024.0 * 1024.0):N0} MB";

    private static long Saturate(double bytes) => bytes >= long.MaxValue ? long.MaxValue : (long)bytes;
}
