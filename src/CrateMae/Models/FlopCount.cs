namespace CrateMae.Models;

/// <summary>
/// Analytic floating-point operation counts of a <see cref="MaeConfig"/> (matrix products only; one multiply-add = 2 FLOP).
/// </summary>
/// <remarks>
/// <para>Per block on T tokens of width D with K heads (d_h = D/K, K·d_h = D):</para>
/// <list type="bullet">
/// <item>MSSA: qkv 2TD² + scores A_kA_kᵀ 2T²D + S_kA_k 2T²D + to_out 2TD² = 4TD² + 4T²D (to_out omitted when K = 1 and d_h = D).</item>
/// <item>ISTA (two-product form): yWᵀ 2TD² + (y − yWᵀ)W 2TD² = 4TD².</item>
/// <item>CRATE encoder block = MSSA + ISTA = 8TD² + 4T²D; CRATE decoder block = W̃ 2TD² + MSSA = 6TD² + 4T²D.</item>
/// <item>ViT block (MLP ratio r): qkv 6TD² + scores/values 4T²D + proj 2TD² + MLP 4rTD² = (8 + 4r)TD² + 4T²D.</item>
/// <item>Patch embedding 2L·(C·p²)·D; prediction head 2N·D_d·p²C; official-MAE semantics add decoder_embed 2T_enc·D·D_d.</item>
/// </list>
/// <para>Under CRATE-MAE semantics both encoder and decoder see all N = L + 1 tokens; under official-MAE semantics the
/// encoder sees 1 + L_keep tokens. A training step (forward + backward) is counted as 3× the forward products (the
/// backward of a product needs two products of the same size); element-wise work, norms and softmax are not counted.
/// An embedding step is the forward of the patch embedding and the encoder blocks on the unmasked image.</para>
/// </remarks>
public static class FlopCount
{
    /// <summary>Forward matmul FLOPs of one masked training forward pass of one image.</summary>
    public static double ForwardPerImage(MaeConfig c, double maskRatio = 0.75)
    {
        long l = c.NumPatches, n = l + 1;
        double patch = 2.0 * l * c.PatchPixels * c.EmbedDim;
        double head = 2.0 * n * c.DecoderEmbedDim * c.PatchPixels;
        if (c.Semantics == MaeSemantics.CrateMae)
            return patch + c.Depth * EncoderBlock(c, n) + c.DecoderDepth * DecoderBlock(c, n) + head;
        long tEnc = 1 + RandomMasking.KeepCount(c.NumPatches, maskRatio);
        double embed = 2.0 * tEnc * c.EmbedDim * c.DecoderEmbedDim;
        return patch + c.Depth * EncoderBlock(c, tEnc) + embed + c.DecoderDepth * DecoderBlock(c, n) + head;
    }

    /// <summary>FLOPs of one training step (forward + backward = 3 × forward) on <paramref name="batch"/> images.</summary>
    public static double TrainingStep(MaeConfig c, int batch, double maskRatio = 0.75) => 3.0 * batch * ForwardPerImage(c, maskRatio);

    /// <summary>FLOPs of one feature-extraction step (<c>ForwardFeatures</c>) on <paramref name="batch"/> images of side <paramref name="imgSize"/>.</summary>
    public static double EmbeddingStep(MaeConfig c, int batch, int? imgSize = null)
    {
        int s = imgSize ?? c.ImgSize;
        long l = (long)(s / c.PatchSize) * (s / c.PatchSize), n = l + 1;
        double patch = 2.0 * l * c.PatchPixels * c.EmbedDim;
        return batch * (patch + c.Depth * EncoderBlock(c, n));
    }

    /// <summary>One encoder block on <paramref name="tokens"/> tokens.</summary>
    public static double EncoderBlock(MaeConfig c, long tokens) =>
        c.Kind == BlockKind.Crate
            ? Mssa(tokens, c.EmbedDim, c.NumHeads) + 4.0 * tokens * c.EmbedDim * c.EmbedDim
            : Vit(tokens, c.EmbedDim, c.MlpRatio);

    /// <summary>One decoder block on <paramref name="tokens"/> tokens.</summary>
    public static double DecoderBlock(MaeConfig c, long tokens) =>
        c.Kind == BlockKind.Crate
            ? 2.0 * tokens * c.DecoderEmbedDim * c.DecoderEmbedDim + Mssa(tokens, c.DecoderEmbedDim, c.DecoderNumHeads)
            : Vit(tokens, c.DecoderEmbedDim, c.MlpRatio);

    private static double Mssa(long t, long d, long heads)
    {
        double toOut = heads == 1 ? 0 : 2.0 * t * d * d;
        return 2.0 * t * d * d + 4.0 * t * t * d + toOut;
    }

    private static double Vit(long t, long d, double mlpRatio)
    {
        long hidden = (long)(d * mlpRatio);
        return 8.0 * t * d * d + 4.0 * t * t * d + 4.0 * t * d * hidden;
    }
}
