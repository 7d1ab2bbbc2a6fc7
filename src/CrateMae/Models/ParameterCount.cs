namespace CrateMae.Models;

/// <summary>Parameter counts of a config without building it (spec §5), checked against built models in the tests.</summary>
public sealed record ParameterCount(long Total, long Trainable, long EncoderTrainable)
{
    public static ParameterCount Of(MaeConfig c)
    {
        long d = c.EmbedDim, dd = c.DecoderEmbedDim, n = c.NumPatches + 1, p = c.PatchPixels;
        long encBlock = Block(c, d, c.NumHeads);
        long decBlock = Block(c, dd, c.DecoderNumHeads);
        long patch = d * c.InChans * c.PatchSize * c.PatchSize + d;
        long tables = n * d + n * dd;
        long encoder = patch + d /* cls */ + c.Depth * encBlock + 2 * d /* norm */;
        long decoder = (d * dd + dd) /* decoder_embed */ + dd /* mask token */ + c.DecoderDepth * decBlock
                       + 2 * dd /* decoder_norm */ + (dd * p + p) /* decoder_pred */;
        long total = encoder + decoder + tables;
        return new ParameterCount(total, total - tables, encoder);
    }

    private static long Block(MaeConfig c, long dim, long heads)
    {
        if (c.Kind == BlockKind.Crate)
        {
            long toOut = heads == 1 ? 0 : dim * dim + dim;              // dropped when one head spans the width
            return 4 * dim /* 2 LN */ + dim * dim /* qkv */ + toOut + dim * dim /* ISTA / W̃ */;
        }
        long hidden = (long)(dim * c.MlpRatio);
        return 4 * dim /* 2 LN */ + 3 * dim * dim + (c.QkvBias ? 3 * dim : 0) + dim * dim + dim /* proj */
               + dim * hidden + hidden + hidden * dim + dim;            // fc1, fc2
    }
}
