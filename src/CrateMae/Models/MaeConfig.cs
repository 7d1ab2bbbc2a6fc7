using System.Text.Json;
using System.Text.Json.Serialization;

namespace CrateMae.Models;

/// <summary>
/// Everything that fixes a masked autoencoder's architecture and loss. Immutable; presets live in <see cref="Presets"/>.
/// Property names serialise to snake_case JSON (see <see cref="ToJson"/> / <see cref="FromJson"/>).
/// </summary>
public sealed record MaeConfig
{
    /// <summary>Preset or user-given name (informational).</summary>
    public string Name { get; init; } = "custom";

    public BlockKind Kind { get; init; } = BlockKind.Crate;
    public MaeSemantics Semantics { get; init; } = MaeSemantics.CrateMae;

    public int ImgSize { get; init; } = 224;
    public int PatchSize { get; init; } = 16;
    public int InChans { get; init; } = 3;

    public int EmbedDim { get; init; } = 768;
    public int Depth { get; init; } = 12;
    public int NumHeads { get; init; } = 12;

    public int DecoderEmbedDim { get; init; } = 768;
    public int DecoderDepth { get; init; } = 12;
    public int DecoderNumHeads { get; init; } = 12;

    /// <summary>ViT MLP hidden width = <c>MlpRatio</c> × width (ignored by CRATE blocks).</summary>
    public double MlpRatio { get; init; } = 4.0;

    /// <summary>ISTA threshold λ (official CRATE-MAE code: 0.5).</summary>
    public double Lambd { get; init; } = 0.5;

    /// <summary>ISTA step size η (official code: 0.1).</summary>
    public double Eta { get; init; } = 0.1;

    /// <summary>Normalise each target patch by its mean and unbiased std before the loss (spec §2.10).</summary>
    public bool NormPixLoss { get; init; }

    /// <summary>ViT blocks only: bias on the fused qkv projection (off in the CRATE repo's ViT-MAE, on in official MAE).</summary>
    public bool QkvBias { get; init; }

    /// <summary>ViT blocks only: LayerNorm eps inside blocks (CRATE repo / fixtures 1e-5, official MAE 1e-6).</summary>
    public double VitNormEps { get; init; } = 1e-5;

    [JsonIgnore] public int GridSize => ImgSize / PatchSize;
    [JsonIgnore] public int NumPatches => GridSize * GridSize;
    [JsonIgnore] public int PatchPixels => PatchSize * PatchSize * InChans;
    [JsonIgnore] public int HeadDim => EmbedDim / NumHeads;
    [JsonIgnore] public int DecoderHeadDim => DecoderEmbedDim / DecoderNumHeads;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first inconsistent field.</summary>
    public MaeConfig Validate()
    {
        void Require(bool ok, string message)
        {
            if (!ok) throw new ArgumentException($"model config '{Name}': {message}");
        }

        Require(ImgSize > 0 && PatchSize > 0, $"img_size ({ImgSize}) and patch_size ({PatchSize}) must be positive");
        // Sanity bounds (far above any real model) keep sizes and parameter counts from overflowing.
        Require(ImgSize <= 16384 && EmbedDim <= 65536 && DecoderEmbedDim <= 65536 && Depth <= 1024 && DecoderDepth <= 1024 && MlpRatio <= 64,
            "sizes out of range (img_size ≤ 16384, embed widths ≤ 65536, depths ≤ 1024, mlp_ratio ≤ 64)");
        Require(ImgSize % PatchSize == 0, $"img_size {ImgSize} is not divisible by patch_size {PatchSize}");
        Require(InChans is >= 1 and <= 4, $"in_chans must be 1..4, got {InChans}");
        Require(EmbedDim > 0 && Depth >= 0 && NumHeads > 0, "embed_dim and num_heads must be positive, depth non-negative");
        Require(DecoderEmbedDim > 0 && DecoderDepth >= 0 && DecoderNumHeads > 0,
            "decoder_embed_dim and decoder_num_heads must be positive, decoder_depth non-negative");
        Require(EmbedDim % NumHeads == 0, $"embed_dim {EmbedDim} is not divisible by num_heads {NumHeads}");
        Require(DecoderEmbedDim % DecoderNumHeads == 0,
            $"decoder_embed_dim {DecoderEmbedDim} is not divisible by decoder_num_heads {DecoderNumHeads}");
        Require(EmbedDim % 4 == 0, $"embed_dim {EmbedDim} must be a multiple of 4 (2-D sin-cos table)");
        Require(DecoderEmbedDim % 4 == 0, $"decoder_embed_dim {DecoderEmbedDim} must be a multiple of 4 (2-D sin-cos table)");
        Require(Semantics != MaeSemantics.CrateMae || DecoderEmbedDim == EmbedDim,
            $"decoder_embed_dim ({DecoderEmbedDim}) must equal embed_dim ({EmbedDim}) under CRATE-MAE semantics " +
            "(the mask token and decoder table enter the encoder); use semantics \"official_mae\" for a narrower decoder");
        Require(MlpRatio > 0, "mlp_ratio must be positive");
        Require(Eta > 0 && double.IsFinite(Eta), "eta (ISTA step) must be a positive number");
        Require(Lambd >= 0 && double.IsFinite(Lambd), "lambd (ISTA threshold) must be a non-negative number");
        Require(VitNormEps > 0, "vit_norm_eps must be positive");
        return this;
    }

    internal static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };

    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    /// <summary>Parses a JSON config; unknown fields are an error. Fields left out take the defaults above.</summary>
    public static MaeConfig FromJson(string json, string source = "config JSON")
    {
        try
        {
            var config = JsonSerializer.Deserialize<MaeConfig>(json, JsonOptions) ?? throw new ArgumentException($"{source}: empty config");
            try
            {
                return config.Validate();
            }
            catch (ArgumentException e)
            {
                throw new ArgumentException($"{source}: {e.Message}", e);
            }
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"{source}: not a valid model config ({e.Message})", e);
        }
    }
}
