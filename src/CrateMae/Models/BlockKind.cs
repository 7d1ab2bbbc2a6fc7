namespace CrateMae.Models;

/// <summary>Which transformer block the encoder and decoder are built from.</summary>
public enum BlockKind
{
    /// <summary>White-box CRATE blocks: MSSA + ISTA in the encoder, linear map + (subtracted) MSSA in the decoder (spec §3.2–3.5).</summary>
    Crate,

    /// <summary>Standard pre-norm ViT blocks (timm "Block"), the MAE baseline (spec §3.7).</summary>
    Vit,
}

/// <summary>How the masked autoencoder wires masking, positional tables and the decoder (spec §2.5–2.7 vs §3.8).</summary>
public enum MaeSemantics
{
    /// <summary>Official CRATE-MAE code: mask tokens and <c>decoder_pos_embed</c> enter the encoder; <c>decoder_embed</c> unused; decoder width = encoder width.</summary>
    CrateMae,

    /// <summary>He et al.'s MAE: visible-only encoder with <c>pos_embed</c>, then <c>decoder_embed</c>, mask tokens and <c>decoder_pos_embed</c> before the decoder.</summary>
    OfficialMae,
}
