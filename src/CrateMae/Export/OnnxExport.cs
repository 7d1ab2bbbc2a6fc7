using CrateMae.Data;
using CrateMae.IO;
using CrateMae.Models;
using Onnx;
using static CrateMae.Export.OnnxGraphBuilder;
using static TorchSharp.torch;

namespace CrateMae.Export;

/// <summary>Which part of a masked autoencoder an ONNX file holds.</summary>
public enum OnnxPart
{
    /// <summary>
    /// images [batch, C, S, S] → <c>features</c> [batch, 1 + L, D] (the unmasked path after the final norm, as
    /// <see cref="MaskedAutoencoder.ForwardFeatures"/>) and <c>pooled</c> [batch, D] (the mean of the patch tokens, the
    /// feature the linear probe and k-NN read by default).
    /// </summary>
    Encoder,

    /// <summary>
    /// images and masking <c>noise</c> [batch, L] → <c>loss</c> [], <c>pred</c> [batch, L, p²·C], <c>mask</c> [batch, L]:
    /// <see cref="MaskedAutoencoder.Forward"/> with injected noise, the mask ratio fixed at export.
    /// </summary>
    Mae,
}

/// <summary>Settings of <see cref="OnnxExport"/>.</summary>
public sealed record OnnxExportOptions
{
    public OnnxPart Part { get; init; } = OnnxPart.Encoder;

    /// <summary>ONNX operator-set version, 17 (the first with LayerNormalization) to 21.</summary>
    public int Opset { get; init; } = 17;

    /// <summary>Mask ratio of the <see cref="OnnxPart.Mae"/> graph (the keep count is fixed in the graph).</summary>
    public double MaskRatio { get; init; } = 0.75;

    /// <summary>
    /// When set, the graph takes <c>pixels</c> in [0, 1] and normalises them itself, (x − mean)/std per channel, as the
    /// data pipeline does in training; when null it takes <c>images</c> already normalised, as the model's forward does.
    /// </summary>
    public NormalizationStats? InputNormalization { get; init; }

    public OnnxExportOptions Validate()
    {
        if (Opset is < 17 or > 21) throw new ArgumentException($"--opset {Opset}: expected 17 … 21 (LayerNormalization needs 17)");
        if (!(MaskRatio >= 0 && MaskRatio < 1)) throw new ArgumentException($"--mask-ratio {MaskRatio}: expected a value in [0, 1)");
        return this;
    }
}

/// <summary>
/// Writes a masked autoencoder as an ONNX graph of standard operators (MatMul, Add, LayerNormalization, Softmax, Relu,
/// Erf, Conv, Transpose, Reshape, GatherElements, TopK, …), from the module weights, so that ONNX Runtime (and ML.NET
/// through it) runs the model without libtorch. The graph follows the official-form (reference) computation of each
/// block, spec §2–3: a CRATE encoder block is Z + MSSA(LN₁(Z)) followed by ReLU(y + η(y − yWᵀ)W − ηλ) with y = LN₂(·);
/// a decoder block Z̃W̃ᵀ after LN₁, minus MSSA of its LN₂; ViT blocks are timm's pre-norm blocks with exact-erf GELU.
/// </summary>
public static class OnnxExport
{
    /// <summary>Builds the ONNX model of <paramref name="model"/> (float32, batch dimension dynamic, image size fixed).</summary>
    public static ModelProto Build(MaskedAutoencoder model, OnnxExportOptions? options = null)
    {
        options = (options ?? new OnnxExportOptions()).Validate();
        var c = model.Config;
        var weights = model.OrderedStateDict().ToDictionary(kv => kv.Key, kv => kv.Value);
        var g = new OnnxGraphBuilder(options.Opset);
        var e = new Emitter(g, weights, c);
        var images = options.InputNormalization is { } norm
            ? e.Normalize(g.Input("pixels", null, c.InChans, c.ImgSize, c.ImgSize), norm.ForChannels(c.InChans))
            : g.Input("images", null, c.InChans, c.ImgSize, c.ImgSize);
        if (options.Part == OnnxPart.Encoder)
        {
            var features = e.Encoder(e.EmbedUnmasked(images));                                  // [B, N, D]
            var patchTokens = e.Slice(features, 1, long.MaxValue, axis: 1);                    // [B, L, D]
            var pooled = e.ReduceMean(patchTokens, axis: 1, keepDims: false);                  // [B, D]
            g.Output(features, "features", TensorProto.Types.DataType.Float, null, c.NumPatches + 1, c.EmbedDim);
            g.Output(pooled, "pooled", TensorProto.Types.DataType.Float, null, c.EmbedDim);
        }
        else
        {
            var noise = g.Input("noise", null, c.NumPatches);
            var (loss, pred, mask) = e.Mae(images, noise, RandomMasking.KeepCount(c.NumPatches, options.MaskRatio));
            g.Output(loss, "loss", TensorProto.Types.DataType.Float);
            g.Output(pred, "pred", TensorProto.Types.DataType.Float, null, c.NumPatches, c.PatchPixels);
            g.Output(mask, "mask", TensorProto.Types.DataType.Float, null, c.NumPatches);
        }
        var doc = $"CrateMae {c.Name} ({c.Kind}, {c.Semantics} semantics), part {options.Part}, {c.ImgSize}px, patch {c.PatchSize}, {c.InChans} channel(s)";
        var proto = g.Build($"{c.Name}-{options.Part.ToString().ToLowerInvariant()}", doc);
        proto.MetadataProps.Add(new StringStringEntryProto { Key = "crate_mae.config", Value = c.ToJson() });
        if (options.InputNormalization is { } n)
            proto.MetadataProps.Add(new StringStringEntryProto
            {
                Key = "crate_mae.normalization", Value = System.Text.Json.JsonSerializer.Serialize(new { mean = n.Mean, std = n.Std }),
            });
        return proto;
    }

    /// <summary>Writes <see cref="Build"/>'s model to <paramref name="path"/> atomically.</summary>
    public static void Save(MaskedAutoencoder model, string path, OnnxExportOptions? options = null)
    {
        var proto = Build(model, options);
        AtomicFile.Write(path, fs => Google.Protobuf.MessageExtensions.WriteTo(proto, fs));
    }

    /// <summary>Emits the model's pieces into a graph; each method mirrors a module's forward.</summary>
    private sealed class Emitter(OnnxGraphBuilder g, IReadOnlyDictionary<string, Tensor> weights, MaeConfig c)
    {
        private string W(string key) =>
            weights.TryGetValue(key, out var t) ? g.Weight(key, t) : throw new InvalidOperationException($"state dict has no '{key}'");

        private string T(string value) => g.Node("Transpose", [value], null, Attr("perm", 1L, 0L));

        private string MatMul(string a, string b) => g.Node("MatMul", [a, b]);
        private string Add(string a, string b) => g.Node("Add", [a, b]);
        private string Sub(string a, string b) => g.Node("Sub", [a, b]);
        private string Mul(string a, string b) => g.Node("Mul", [a, b]);

        /// <summary>x·Wᵀ (+ b): a PyTorch Linear with the weight [out, in] under <paramref name="key"/>.</summary>
        private string Linear(string x, string key, bool bias = true)
        {
            var y = MatMul(x, T(W(key + ".weight")));
            return bias ? Add(y, W(key + ".bias")) : y;
        }

        private string LayerNorm(string x, string key, double eps) =>
            g.Node("LayerNormalization", [x, W(key + ".weight"), W(key + ".bias")], null,
                Attr("axis", -1L), Attr("epsilon", (float)eps));

        private string Reshape(string x, params long[] shape) => g.Node("Reshape", [x, g.Int64s(shape)]);

        private string Transpose(string x, params long[] perm) => g.Node("Transpose", [x], null, Attr("perm", perm));

        public string Slice(string x, long start, long end, long axis) =>
            g.Node("Slice", [x, g.Int64s(start), g.Int64s(end), g.Int64s(axis)]);

        public string ReduceMean(string x, long axis, bool keepDims) => g.Opset >= 18
            ? g.Node("ReduceMean", [x, g.Int64s(axis)], null, Attr("keepdims", keepDims ? 1L : 0L))
            : g.Node("ReduceMean", [x], null, Attr("axes", new[] { axis }), Attr("keepdims", keepDims ? 1L : 0L));

        private string ReduceSum(string x) => g.Node("ReduceSum", [x], null, Attr("keepdims", 0L));   // every axis

        private string ReduceSumLast(string x) => g.Node("ReduceSum", [x, g.Int64s(-1)], null, Attr("keepdims", 1L));

        /// <summary>The batch size as a 1-element int64 tensor.</summary>
        private string BatchOf(string x) => g.Node("Shape", [x], null, Attr("start", 0L), Attr("end", 1L));

        /// <summary>Broadcasts a [1, 1, D] token over the batch of <paramref name="like"/>: [B, n, D].</summary>
        private string ExpandToken(string token, string like, long n, long d) =>
            g.Node("Expand", [token, g.Node("Concat", [BatchOf(like), g.Int64s(n, d)], null, Attr("axis", 0L))]);

        /// <summary>(x − mean)/std per channel: [B, C, S, S] pixels in [0, 1] → the model's input.</summary>
        public string Normalize(string pixels, NormalizationStats stats)
        {
            string PerChannel(IReadOnlyList<float> v) => g.Weight($"input_{(ReferenceEquals(v, stats.Mean) ? "mean" : "std")}",
                TorchSharp.torch.tensor(v.ToArray()).view(1, v.Count, 1, 1));
            return g.Node("Div", [Sub(pixels, PerChannel(stats.Mean)), PerChannel(stats.Std)]);
        }

        /// <summary>patch_embed: the stride-p convolution, [B, C, S, S] → [B, L, D].</summary>
        private string PatchEmbed(string images)
        {
            var y = g.Node("Conv", [images, W("patch_embed.proj.weight"), W("patch_embed.proj.bias")], null,
                Attr("kernel_shape", c.PatchSize, c.PatchSize), Attr("strides", c.PatchSize, c.PatchSize));   // [B, D, g, g]
            return Transpose(Reshape(y, 0, c.EmbedDim, c.NumPatches), 0, 2, 1);                                 // [B, L, D]
        }

        private string PrependCls(string tokens, string cls, long d) =>
            g.Node("Concat", [ExpandToken(cls, tokens, 1, d), tokens], null, Attr("axis", 1L));

        /// <summary><see cref="MaskedAutoencoder.EmbedUnmasked"/> at the training size: [B, C, S, S] → [B, N, D].</summary>
        public string EmbedUnmasked(string images)
        {
            var table = c.Semantics == MaeSemantics.CrateMae ? "decoder_pos_embed" : "pos_embed";
            return Add(PrependCls(PatchEmbed(images), W("cls_token"), c.EmbedDim), W(table));
        }

        /// <summary>Encoder blocks then the final norm: [B, N, D] → [B, N, D].</summary>
        public string Encoder(string h)
        {
            for (int i = 0; i < c.Depth; i++)
                h = c.Kind == BlockKind.Crate ? CrateEncoderBlock(h, $"blocks.{i}.layers.0") : VitBlock(h, $"blocks.{i}", c.EmbedDim, c.NumHeads);
            return LayerNorm(h, "norm", 1e-6);
        }

        /// <summary>Z + MSSA(LN₁(Z)), then ISTA(LN₂(·)) = ReLU(y + η(y − yWᵀ)W − ηλ).</summary>
        private string CrateEncoderBlock(string z, string key)
        {
            var half = Add(z, Mssa(LayerNorm(z, key + ".0.norm", 1e-5), key + ".0.fn", c.EmbedDim, c.NumHeads));
            var y = LayerNorm(half, key + ".1.norm", 1e-5);
            var w = W(key + ".1.fn.weight");
            var residual = Sub(y, MatMul(y, T(w)));                                     // y − yWᵀ
            var update = MatMul(residual, w);                                          // (y − yWᵀ)W
            var step = Sub(Add(y, Mul(update, g.Scalar((float)c.Eta))), g.Scalar((float)(c.Eta * c.Lambd)));
            return g.Node("Relu", [step]);
        }

        /// <summary>Z̃^{ℓ+½} = LN₁(Z̃)W̃ᵀ, Z̃^{ℓ+1} = Z̃^{ℓ+½} − MSSA(LN₂(Z̃^{ℓ+½})).</summary>
        private string CrateDecoderBlock(string z, string key)
        {
            var mapped = MatMul(LayerNorm(z, key + ".0.norm", 1e-5), T(W(key + ".0.fn.weight")));
            return Sub(mapped, Mssa(LayerNorm(mapped, key + ".1.norm", 1e-5), key + ".1.fn", c.DecoderEmbedDim, c.DecoderNumHeads));
        }

        /// <summary>MSSA: A = X·qkvᵀ, per head softmax(A_k A_kᵀ/√d_h) A_k, heads merged, then to_out (absent when K = 1, d_h = D).</summary>
        private string Mssa(string x, string key, int dim, int heads)
        {
            int dh = dim / heads, inner = dh * heads;
            var a = MatMul(x, T(W(key + ".qkv.weight")));                               // [B, N, K·d_h]
            var split = Transpose(Reshape(a, 0, 0, heads, dh), 0, 2, 1, 3);              // [B, K, N, d_h]
            var merged = Attend(split, split, split, dh, inner);                       // [B, N, K·d_h]
            return weights.ContainsKey(key + ".to_out.0.weight") ? Linear(merged, key + ".to_out.0") : merged;
        }

        /// <summary>softmax(q kᵀ/√d_h) v per head, heads merged: [B, K, N, d_h] ×3 → [B, N, K·d_h].</summary>
        private string Attend(string q, string k, string v, int dh, int inner)
        {
            var scores = Mul(MatMul(q, Transpose(k, 0, 1, 3, 2)), g.Scalar((float)(1.0 / Math.Sqrt(dh))));   // [B, K, N, N]
            var p = g.Node("Softmax", [scores], null, Attr("axis", -1L));
            return Reshape(Transpose(MatMul(p, v), 0, 2, 1, 3), 0, 0, inner);
        }

        /// <summary>timm block: x + Attn(LN₁(x)), then + MLP(LN₂(·)) with exact GELU.</summary>
        private string VitBlock(string x, string key, int dim, int heads)
        {
            int dh = dim / heads;
            var qkv = Linear(LayerNorm(x, key + ".norm1", c.VitNormEps), key + ".attn.qkv", bias: weights.ContainsKey(key + ".attn.qkv.bias"));
            var split = Transpose(Reshape(qkv, 0, 0, 3, heads, dh), 2, 0, 3, 1, 4);     // [3, B, K, N, d_h]
            string Part(long i) => g.Node("Gather", [split, g.Int64s(i)], null, Attr("axis", 0L));
            var q = g.Node("Squeeze", [Part(0), g.Int64s(0)]);
            var k = g.Node("Squeeze", [Part(1), g.Int64s(0)]);
            var v = g.Node("Squeeze", [Part(2), g.Int64s(0)]);
            var h = Add(x, Linear(Attend(q, k, v, dh, dim), key + ".attn.proj"));
            var hidden = Linear(LayerNorm(h, key + ".norm2", c.VitNormEps), key + ".mlp.fc1");
            var gelu = Mul(Mul(hidden, g.Scalar(0.5f)),
                Add(g.Node("Erf", [Mul(hidden, g.Scalar((float)(1.0 / Math.Sqrt(2.0))))]), g.Scalar(1f)));   // ½x(1 + erf(x/√2))
            return Add(h, Linear(gelu, key + ".mlp.fc2"));
        }

        /// <summary>Decoder blocks, decoder_norm, decoder_pred, cls dropped: [B, N, D_d] → [B, L, P].</summary>
        private string Decode(string h)
        {
            for (int i = 0; i < c.DecoderDepth; i++)
                h = c.Kind == BlockKind.Crate
                    ? CrateDecoderBlock(h, $"decoder_blocks.{i}.layers.0")
                    : VitBlock(h, $"decoder_blocks.{i}", c.DecoderEmbedDim, c.DecoderNumHeads);
            var pred = Linear(LayerNorm(h, "decoder_norm", 1e-6), "decoder_pred");      // [B, N, P]
            return Slice(pred, 1, long.MaxValue, axis: 1);                              // [B, L, P]
        }

        /// <summary>Ascending argsort along axis 1 (TopK of all elements, smallest first).</summary>
        private string ArgSort(string x, long n) =>
            g.NodeMulti("TopK", [x, g.Int64s(n)], 2, null, Attr("axis", 1L), Attr("largest", 0L), Attr("sorted", 1L))[1];

        /// <summary>x[b, ids[b, j], :] for every j: [B, n, D] gathered by ids [B, m] → [B, m, D].</summary>
        private string GatherTokens(string x, string ids, long d) =>
            g.Node("GatherElements", [x, g.Node("Expand", [g.Node("Unsqueeze", [ids, g.Int64s(2)]), g.Int64s(1, 1, d)])], null, Attr("axis", 1L));

        /// <summary>Kept tokens, then mask tokens, un-shuffled by ids_restore: [B, keep, D] → [B, L, D].</summary>
        private string InsertMaskTokens(string kept, string idsRestore, long d, int keep)
        {
            var masks = ExpandToken(W("mask_token"), kept, c.NumPatches - keep, d);
            return GatherTokens(g.Node("Concat", [kept, masks], null, Attr("axis", 1L)), idsRestore, d);
        }

        /// <summary><see cref="MaskedAutoencoder.Forward"/> with injected noise: (loss, pred, mask).</summary>
        public (string Loss, string Pred, string Mask) Mae(string images, string noise, int keep)
        {
            long l = c.NumPatches;
            var idsShuffle = ArgSort(noise, l);                                         // [B, L] small noise first
            var idsRestore = ArgSort(g.Node("Cast", [idsShuffle], null, Attr("to", (long)TensorProto.Types.DataType.Float)), l);
            var idsKeep = Slice(idsShuffle, 0, keep, axis: 1);                          // [B, keep]
            var mask = g.Node("Cast", [g.Node("GreaterOrEqual", [idsRestore, g.Int64s(keep)])], null,
                Attr("to", (long)TensorProto.Types.DataType.Float));                     // [B, L], 1 = removed
            string pred;
            if (c.Semantics == MaeSemantics.CrateMae)
            {
                var tokens = InsertMaskTokens(GatherTokens(PatchEmbed(images), idsKeep, c.EmbedDim), idsRestore, c.EmbedDim, keep);
                var latent = Encoder(Add(PrependCls(tokens, W("cls_token"), c.EmbedDim), W("decoder_pos_embed")));
                pred = Decode(latent);
            }
            else
            {
                var pos = W("pos_embed");
                var x = Add(PatchEmbed(images), Slice(pos, 1, long.MaxValue, axis: 1));    // [B, L, D]
                var cls = Add(W("cls_token"), Slice(pos, 0, 1, axis: 1));
                var latent = Encoder(PrependCls(GatherTokens(x, idsKeep, c.EmbedDim), cls, c.EmbedDim));
                var y = Linear(latent, "decoder_embed");                                 // [B, 1 + keep, D_d]
                var body = InsertMaskTokens(Slice(y, 1, long.MaxValue, axis: 1), idsRestore, c.DecoderEmbedDim, keep);
                var full = g.Node("Concat", [Slice(y, 0, 1, axis: 1), body], null, Attr("axis", 1L));
                pred = Decode(Add(full, W("decoder_pos_embed")));
            }
            return (Loss(images, pred, mask), pred, mask);
        }

        /// <summary>Masked-patch MSE (spec §2.10), with per-patch normalised targets when norm_pix_loss is on.</summary>
        private string Loss(string images, string pred, string mask)
        {
            int p = c.PatchSize, gs = c.GridSize;
            var target = Reshape(Transpose(Reshape(images, 0, c.InChans, gs, p, gs, p), 0, 2, 4, 3, 5, 1), 0, c.NumPatches, c.PatchPixels);
            if (c.NormPixLoss)
            {
                var centred = Sub(target, ReduceMean(target, -1, keepDims: true));
                var variance = g.Node("Div", [ReduceSumLast(Mul(centred, centred)), g.Scalar(c.PatchPixels - 1)]);   // unbiased
                target = g.Node("Div", [centred, g.Node("Sqrt", [Add(variance, g.Scalar(1e-6f))])]);
            }
            var diff = Sub(pred, target);
            var perPatch = ReduceMean(Mul(diff, diff), -1, keepDims: false);              // [B, L]
            return g.Node("Div", [ReduceSum(Mul(perPatch, mask)), ReduceSum(mask)]);
        }
    }
}
