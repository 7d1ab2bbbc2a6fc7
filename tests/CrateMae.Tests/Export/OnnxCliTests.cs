using CrateMae.Models;
using CrateMae.Tests.Data;
using CrateMae.Tests.Reliability;
using CrateMae.Tests.Support;
using CrateMae.Training;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Tensor = TorchSharp.torch.Tensor;
using static TorchSharp.torch;

namespace CrateMae.Tests.Export;

/// <summary><c>crate-mae export</c> end to end: a checkpoint with its normalisation → an encoder that takes pixels, run by ONNX Runtime and by ML.NET.</summary>
[Collection(ReliabilityCollection.Name)]
public sealed class OnnxCliTests : IDisposable
{
    private static readonly MaeConfig Tiny = Presets.Resolve(Reliability.Cli.TinyModel);
    private static readonly float[] Mean = [0.25f], Std = [0.5f];
    private readonly TempDirectory _tmp = new();

    public void Dispose() => _tmp.Dispose();

    /// <summary>A seeded tiny model saved as a .ckpt that records its normalisation.</summary>
    private (MaskedAutoencoder Model, string Path) Checkpoint()
    {
        var model = new MaskedAutoencoder(Tiny, manual_seed(11));
        model.eval();
        var path = _tmp.File("tiny.ckpt");
        ModelSource.Save(model, path, new Dictionary<string, string>
        {
            ["normalization"] = System.Text.Json.JsonSerializer.Serialize(new { mean = Mean, std = Std }),
        });
        return (model, path);
    }

    private Tensor Pixels(int batch) => rand(batch, Tiny.InChans, Tiny.ImgSize, Tiny.ImgSize, generator: manual_seed(5));

    private static Tensor Expected(MaskedAutoencoder model, Tensor pixels)
    {
        using var noGrad = no_grad();
        return model.ForwardFeatures((pixels - Mean[0]) / Std[0]);
    }

    [Fact]
    public void Given_a_checkpoint_When_exported_with_pixels_Then_onnx_runtime_embeds_raw_pixels_as_the_model_does()
    {
        using var scope = NewDisposeScope();
        var (model, ckpt) = Checkpoint();
        var onnx = _tmp.File("encoder.onnx");
        var r = Reliability.Cli.Run("export", "--checkpoint", ckpt, "--format", "onnx", "-o", onnx, "--pixels");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("pixels in [0, 1]", r.Stdout);

        var pixels = Pixels(3);
        using var session = new InferenceSession(onnx);
        var input = new DenseTensor<float>(pixels.data<float>().ToArray(), [3, Tiny.InChans, Tiny.ImgSize, Tiny.ImgSize]);
        using var results = session.Run([NamedOnnxValue.CreateFromTensor("pixels", input)]);
        var features = results.Single(v => v.Name == "features").AsTensor<float>();
        var ours = tensor(features.ToArray(), features.Dimensions.ToArray().Select(d => (long)d).ToArray());
        TensorAssert.RelativeToMax(ours, Expected(model, pixels), 1e-5, "features of pixels");
        Assert.Contains("crate_mae.normalization", session.ModelMetadata.CustomMetadataMap.Keys);
    }

    private sealed class ImageRow
    {
        [ColumnName("pixels"), VectorType(1, 1, 28, 28)]
        public float[] Pixels { get; set; } = [];
    }

    private sealed class FeatureRow
    {
        [ColumnName("pooled"), VectorType(32)]
        public float[] Pooled { get; set; } = [];
    }

    [Fact]
    public void Given_an_exported_encoder_When_used_in_an_mlnet_pipeline_Then_apply_onnx_model_gives_the_pooled_features()
    {
        using var scope = NewDisposeScope();
        var (model, ckpt) = Checkpoint();
        var onnx = _tmp.File("encoder.onnx");
        Assert.Equal(0, Reliability.Cli.Run("export", "--checkpoint", ckpt, "-o", onnx, "--pixels").ExitCode);
        Assert.Equal((1, 28, 32), (Tiny.InChans, Tiny.ImgSize, Tiny.EmbedDim));   // the row types above

        var pixels = Pixels(4);
        var rows = Enumerable.Range(0, 4).Select(i => new ImageRow { Pixels = pixels[i].flatten().data<float>().ToArray() }).ToList();
        var ml = new MLContext(seed: 0);
        var data = ml.Data.LoadFromEnumerable(rows);
        var pipeline = ml.Transforms.ApplyOnnxModel(["pooled"], ["pixels"], onnx);
        var pooled = ml.Data.CreateEnumerable<FeatureRow>(pipeline.Fit(data).Transform(data), reuseRowObject: false)
            .SelectMany(r => r.Pooled).ToArray();

        var expected = Expected(model, pixels)[.., 1..].mean([1]);                    // [4, D]
        TensorAssert.RelativeToMax(tensor(pooled).view(4, Tiny.EmbedDim), expected, 1e-5, "ML.NET pooled features");
    }

    [Fact]
    public void Given_bad_options_When_exporting_Then_one_line_names_the_option()
    {
        var (_, ckpt) = Checkpoint();
        Reliability.Cli.AssertOneLineError(Reliability.Cli.Run("export", "--checkpoint", ckpt, "-o", _tmp.File("x.onnx"), "--format", "tflite"), 2, "--format tflite");
        Reliability.Cli.AssertOneLineError(Reliability.Cli.Run("export", "--checkpoint", ckpt, "-o", _tmp.File("x.bin")), 2, "--output", "x.bin");
        Reliability.Cli.AssertOneLineError(Reliability.Cli.Run("export", "--checkpoint", ckpt, "-o", _tmp.File("x.onnx"), "--part", "decoder"), 2, "--part decoder");
        Reliability.Cli.AssertOneLineError(Reliability.Cli.Run("export", "--checkpoint", ckpt, "-o", _tmp.File("x.onnx"), "--opset", "12"), 2, "--opset 12");
        Assert.False(File.Exists(_tmp.File("x.onnx")));
    }
}
