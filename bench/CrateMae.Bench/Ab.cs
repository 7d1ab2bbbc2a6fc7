using System.Diagnostics;
using System.Globalization;
using CrateMae.Benchmarking;
using CrateMae.Kernels;
using CrateMae.Models;
using CrateMae.Training;
using static TorchSharp.torch;

namespace CrateMae.Bench;

/// <summary>
/// In-process A/B of a fast-path choice: the model with its default kernel options ("on", at the vector width of
/// <c>--simd</c>) against the same model with one variant of the options ("off"), one step each in turn (the order flips
/// every pair), so both sides see the same minute of a shared machine (separate processes minutes apart differ by
/// ±20 %, and even rounds of several steps each moved by ±15 %). Reports each side's median img/s and the median and
/// quartiles of the per-pair speed-ups (time off / time on), for training steps and for feature extraction.
/// <code>dotnet run -c Release --project bench/CrateMae.Bench -- ab --variant simd --model bench/cmp32.json --batch 64 --pairs 60</code>
/// Variants (<see cref="KernelOptions"/>): <c>simd</c> (our vector kernels against libtorch's ops, <c>SimdBits = 0</c>),
/// <c>simd-256</c> and <c>simd-128</c> (against the kernels at a narrower width), <c>decoder-stream</c> (the CRATE decoder
/// on the bf16 stream against a float32 one), <c>attention-explicit</c>, <c>attention-sdpa</c> and <c>attention-fused</c>
/// (the default attention form against one forced form), and <c>patch-embed-conv</c> (the patch embedding as one GEMM
/// against the strided convolution).
/// </summary>
public static class Ab
{
    private static readonly Dictionary<string, Func<KernelOptions, KernelOptions>> Variants = new()
    {
        ["simd"] = o => o with { SimdBits = 0 },
        ["simd-256"] = o => o with { SimdBits = 256 },
        ["simd-128"] = o => o with { SimdBits = 128 },
        ["decoder-stream"] = o => o with { Float32DecoderStream = true },
        ["attention-explicit"] = o => o with { Attention = AttentionKernel.Explicit },
        ["attention-sdpa"] = o => o with { Attention = AttentionKernel.Sdpa },
        ["attention-fused"] = o => o with { Attention = AttentionKernel.Fused },
        ["patch-embed-conv"] = o => o with { ConvPatchEmbed = true },
    };

    public static int Run(string[] args)
    {
        var o = Options.Parse(args);
        set_num_threads(o.Threads);
        var config = Presets.Resolve(o.Model);
        ScalarType? precision = o.Precision switch
        {
            "bf16" => ScalarType.BFloat16,
            "fp32" => null,
            _ => throw new ArgumentException($"--precision {o.Precision}: expected fp32 or bf16"),
        };
        var on = KernelOptions.Default with { SimdBits = o.Simd };
        var off = Variants[o.Variant](on);
        using var gen = new Generator(1);
        var model = new MaskedAutoencoder(config, gen);
        using var optimizer = new AdamW(ParamGroups.WeightDecaySplit(model, 0.05));
        var images = randn([o.Batch, config.InChans, config.ImgSize, config.ImgSize], generator: gen);
        Console.WriteLine(FormattableString.Invariant(
            $"{config.Name}, batch {o.Batch}, {o.Precision}, {o.Threads} threads: {o.Variant} on / off, {o.Pairs} pairs after {o.Warmup} warm-up pairs; on: {on.VectorBits}-bit vector kernels, off: {off.VectorBits}-bit"));
        Console.WriteLine($"host: allocator {ThroughputBenchmark.Allocator()}, OpenMP {ThroughputBenchmark.OpenMpSettings()}, kernel threads {ThroughputBenchmark.KernelThreads()}");
        if (o.Phase is "both" or "train")
        {
            model.train();
            Report("train", Pairs(o, model, on, off, () =>
            {
                using var scope = NewDisposeScope();
                var noise = rand([images.shape[0], model.Config.NumPatches], generator: gen);
                TrainingStep.Run(model, optimizer, images, noise, 0.75, precision, 1e-4);
            }), o.Batch);
        }
        if (o.Phase is "both" or "embed")
        {
            model.eval();
            using var noGrad = no_grad();
            using var p = MatmulPrecision.Use(precision);
            Report("embed", Pairs(o, model, on, off, () =>
            {
                using var scope = NewDisposeScope();
                model.ForwardFeatures(images);
            }), o.Batch);
            model.train();
        }
        return 0;
    }

    /// <summary>(seconds on, seconds off) per pair, after the warm-up pairs.</summary>
    private static List<(double On, double Off)> Pairs(Options o, MaskedAutoencoder model, KernelOptions onOptions, KernelOptions offOptions, Action step)
    {
        double Timed(bool on)
        {
            model.Kernels = on ? onOptions : offOptions;
            var sw = Stopwatch.StartNew();
            step();
            return sw.Elapsed.TotalSeconds;
        }
        var pairs = new List<(double, double)>();
        for (int i = 0; i < o.Warmup + o.Pairs; i++)
        {
            bool onFirst = i % 2 == 0;
            double first = Timed(onFirst), second = Timed(!onFirst);
            if (i >= o.Warmup) pairs.Add(onFirst ? (first, second) : (second, first));
        }
        return pairs;
    }

    private static void Report(string phase, List<(double On, double Off)> pairs, int batch)
    {
        var speedUps = pairs.Select(p => p.Off / p.On).OrderBy(x => x).ToArray();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  {phase}: on {batch / Median(pairs.Select(p => p.On)):F1} img/s, off {batch / Median(pairs.Select(p => p.Off)):F1} img/s; " +
            $"speed-up on/off: median {Median(speedUps):F3} [quartiles {Quantile(speedUps, 0.25):F3}, {Quantile(speedUps, 0.75):F3}] over {pairs.Count} pairs"));
    }

    private static double Median(IEnumerable<double> values) => Quantile(values.OrderBy(x => x).ToArray(), 0.5);

    private static double Quantile(double[] sorted, double q)
    {
        double pos = q * (sorted.Length - 1);
        int lo = (int)Math.Floor(pos), hi = (int)Math.Ceiling(pos);
        return sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
    }

    private sealed record Options(string Variant, string Model, int Batch, int Pairs, int Warmup, int Threads, string Precision, string Phase, int Simd)
    {
        public static Options Parse(string[] args)
        {
            var values = new Dictionary<string, string>
            {
                ["--variant"] = "simd", ["--model"] = "bench/cmp32.json", ["--batch"] = "64", ["--pairs"] = "60", ["--warmup"] = "20",
                ["--threads"] = "2", ["--precision"] = "bf16", ["--phase"] = "both", ["--simd"] = "512",
            };
            for (int i = 0; i < args.Length; i += 2)
            {
                if (!values.ContainsKey(args[i]) || i + 1 >= args.Length)
                    throw new ArgumentException($"ab: unknown option or missing value at '{args[i]}' (options: {string.Join(", ", values.Keys)})");
                values[args[i]] = args[i + 1];
            }
            if (!Variants.ContainsKey(values["--variant"]))
                throw new ArgumentException($"--variant {values["--variant"]}: expected one of {string.Join(", ", Variants.Keys)}");
            if (values["--phase"] is not ("both" or "train" or "embed"))
                throw new ArgumentException($"--phase {values["--phase"]}: expected both, train or embed");
            int Int(string key, int min) => int.TryParse(values[key], CultureInfo.InvariantCulture, out var n) && n >= min
                ? n : throw new ArgumentException($"{key} {values[key]}: expected an integer ≥ {min}");
            int simd = Int("--simd", 0);
            if (simd is not (0 or 128 or 256 or 512)) throw new ArgumentException($"--simd {simd}: expected 0, 128, 256 or 512");
            return new Options(values["--variant"], values["--model"], Int("--batch", 1), Int("--pairs", 1), Int("--warmup", 0),
                Int("--threads", 1), values["--precision"], values["--phase"], simd);
        }
    }
}
