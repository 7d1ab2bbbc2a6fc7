using System.Diagnostics;
using CrateMae.Benchmarking;
using CrateMae.Export;
using CrateMae.Models;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using static TorchSharp.torch;

namespace CrateMae.Cli;

/// <summary>
/// <c>bench --onnx</c>: the feature extraction of <c>bench</c> (batch, image size, threads) run by ONNX Runtime on the
/// exported encoder of the same model, so the two throughputs come from one process, one machine and one minute.
/// ONNX Runtime runs with all graph optimisations and as many intra-op threads as libtorch uses.
/// </summary>
internal static class OnnxRuntimeBench
{
    public static OnnxRuntimeResult Measure(MaeConfig config, int batch, int warmup, int steps, int seed)
    {
        using var scope = NewDisposeScope();
        using var model = new MaskedAutoencoder(config, manual_seed(seed));
        model.eval();
        var images = randn(batch, config.InChans, config.ImgSize, config.ImgSize, generator: manual_seed(seed + 2));
        var path = Path.Combine(Path.GetTempPath(), $"crate-mae-bench-{Environment.ProcessId}.onnx");
        try
        {
            OnnxExport.Save(model, path, new OnnxExportOptions { Part = OnnxPart.Encoder });
            int threads = get_num_threads();
            using var options = new SessionOptions
            {
                GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL, IntraOpNumThreads = threads, InterOpNumThreads = 1,
            };
            using var session = new InferenceSession(path, options);
            var input = new DenseTensor<float>(images.data<float>().ToArray(), [batch, config.InChans, config.ImgSize, config.ImgSize]);
            var inputs = new[] { NamedOnnxValue.CreateFromTensor("images", input) };

            float[] Run()
            {
                using var results = session.Run(inputs, ["features"]);
                return results[0].AsTensor<float>().ToArray();
            }

            var first = Run();
            for (int i = 1; i < warmup; i++) Run();
            var seconds = new double[steps];
            for (int i = 0; i < steps; i++)
            {
                var sw = Stopwatch.StartNew();
                Run();
                seconds[i] = sw.Elapsed.TotalSeconds;
            }
            double diff;
            using (no_grad())
            {
                var ours = model.ForwardFeatures(images);
                var theirs = tensor(first).view(ours.shape);
                diff = ((theirs - ours).abs().max() / ours.abs().max()).item<float>();
            }
            return new OnnxRuntimeResult
            {
                Version = OrtEnv.Instance().GetVersionString(), IntraOpThreads = threads, StepSeconds = seconds,
                MedianImgPerS = batch / ThroughputBenchmark.Median(seconds), BestImgPerS = batch / seconds.Min(),
                MaxRelativeDifference = diff,
            };
        }
        finally
        {
            File.Delete(path);
        }
    }
}
