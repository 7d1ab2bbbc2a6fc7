using CrateMae.Export;
using CrateMae.Interop;
using CrateMae.Models;
using CrateMae.Tests.Data;
using CrateMae.Tests.Support;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Tensor = TorchSharp.torch.Tensor;
using static TorchSharp.torch;

namespace CrateMae.Tests.Export;

/// <summary>
/// The exported ONNX graphs, run by ONNX Runtime, reproduce the model on every golden fixture case: the encoder's
/// features and pooled feature equal TorchSharp's, the MAE graph's loss, prediction and mask equal the official code's
/// (max|Δ|/max|ref| ≤ 1e-5; the mask exactly).
/// </summary>
[Trait("Category", "Parity")]
public sealed class OnnxExportTests : IDisposable
{
    private const double Tolerance = 1e-5;
    private readonly TempDirectory _tmp = new();

    public void Dispose() => _tmp.Dispose();

    public static TheoryData<string> Cases => Fixtures.CaseNames();

    private static DenseTensor<float> ToOrt(Tensor t)
    {
        using var c = t.detach().cpu().contiguous();
        return new DenseTensor<float>(c.data<float>().ToArray(), c.shape.Select(d => (int)d).ToArray());
    }

    private static Tensor FromOrt(DisposableNamedOnnxValue v)
    {
        var t = v.AsTensor<float>();
        return tensor(t.ToArray(), t.Dimensions.ToArray().Select(d => (long)d).ToArray());
    }

    private Dictionary<string, Tensor> Run(MaskedAutoencoder model, OnnxExportOptions options, params (string Name, Tensor Value)[] inputs)
    {
        var path = _tmp.File($"{model.Config.Name}-{options.Part}.onnx");
        OnnxExport.Save(model, path, options);
        using var session = new InferenceSession(path);
        using var results = session.Run(inputs.Select(i => NamedOnnxValue.CreateFromTensor(i.Name, ToOrt(i.Value))).ToList());
        return results.ToDictionary(r => r.Name, FromOrt);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Given_a_fixture_model_When_its_encoder_runs_in_onnx_runtime_Then_features_equal_torchsharp(string name)
    {
        var c = Fixtures.Case(name);
        using var scope = NewDisposeScope();
        using var model = c.LoadModel();
        model.eval();
        using var io = StateDictFile.Load(c.IoPath);
        var images = io["imgs"];

        var ort = Run(model, new OnnxExportOptions { Part = OnnxPart.Encoder }, ("images", images));

        using var noGrad = no_grad();
        var features = model.ForwardFeatures(images);                               // [B, N, D]
        TensorAssert.RelativeToMax(ort["features"], features, Tolerance, $"{name} features");
        TensorAssert.RelativeToMax(ort["pooled"], features[.., 1..].mean([1]), Tolerance, $"{name} pooled");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Given_a_fixture_model_and_its_noise_When_the_mae_graph_runs_in_onnx_runtime_Then_loss_pred_and_mask_equal_the_official_code(string name)
    {
        var c = Fixtures.Case(name);
        using var scope = NewDisposeScope();
        using var model = c.LoadModel();
        model.eval();
        using var io = StateDictFile.Load(c.IoPath);

        var ort = Run(model, new OnnxExportOptions { Part = OnnxPart.Mae, MaskRatio = c.Ratio }, ("images", io["imgs"]), ("noise", io["noise"]));

        TensorAssert.Exact(ort["mask"], io["mask"], $"{name} mask");
        TensorAssert.RelativeToMax(ort["pred"], io["pred"], Tolerance, $"{name} pred");
        TensorAssert.RelativeToMax(ort["loss"].reshape(1), io["loss"].reshape(1), Tolerance, $"{name} loss");
    }

    [Fact]
    public void Given_a_batch_other_than_the_export_batch_When_run_Then_the_batch_dimension_is_dynamic()
    {
        var c = Fixtures.Case("crate-mini");
        using var scope = NewDisposeScope();
        using var model = c.LoadModel();
        model.eval();
        var images = randn(5, c.Config.InChans, c.Config.ImgSize, c.Config.ImgSize, generator: manual_seed(3));
        var ort = Run(model, new OnnxExportOptions { Part = OnnxPart.Encoder }, ("images", images));
        using var noGrad = no_grad();
        Assert.Equal([5L, c.Config.NumPatches + 1, c.Config.EmbedDim], ort["features"].shape);
        TensorAssert.RelativeToMax(ort["features"], model.ForwardFeatures(images), Tolerance, "batch 5 features");
    }

    [Theory]
    [InlineData(16)]
    [InlineData(22)]
    public void Given_an_opset_outside_17_to_21_When_exported_Then_refused_naming_the_option(int opset)
    {
        using var model = new MaskedAutoencoder(Fixtures.Case("crate-mini").Config);
        var e = Assert.Throws<ArgumentException>(() => OnnxExport.Build(model, new OnnxExportOptions { Opset = opset }));
        Assert.Contains("--opset", e.Message);
    }

    [Theory]
    [InlineData(18)]
    [InlineData(21)]
    public void Given_a_newer_opset_When_exported_Then_onnx_runtime_gives_the_same_features(int opset)
    {
        var c = Fixtures.Case("vit-mini");
        using var scope = NewDisposeScope();
        using var model = c.LoadModel();
        model.eval();
        using var io = StateDictFile.Load(c.IoPath);
        var ort = Run(model, new OnnxExportOptions { Part = OnnxPart.Encoder, Opset = opset }, ("images", io["imgs"]));
        using var noGrad = no_grad();
        TensorAssert.RelativeToMax(ort["features"], model.ForwardFeatures(io["imgs"]), Tolerance, $"opset {opset} features");
    }
}
