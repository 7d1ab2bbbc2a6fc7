using System.Diagnostics;
using System.Globalization;
using CrateMae.Benchmarking;
using CrateMae.Models;
using CrateMae.Training;
using static TorchSharp.torch;

namespace CrateMae.Bench;

/// <summary>
/// In-process A/B of a fast-path choice: the default ("on") against one variant switched off on this thread, one step
/// each in turn (the order flips every pair), so both sides see the same minute of a shared machine (separate processes
/// minutes apart differ by ±20 %, and even rounds of several steps each moved by ±15 %). Reports each side's median
/// img/s and the median and quartiles of the per-pair speed-ups (time off / time on), for training steps and for
/// feature extraction.
/// <code>dotnet run -c Release --project bench/CrateMae.Bench -- ab --variant simd --model bench/cmp32.json --batch 64 --pairs 60</code>
/// Variants: <c>simd</c> (our AVX-512 kernels against libtorch's ops, <see cref="Kernels.UseLibtorchKernels"/>),
/// <c>decoder-stream</c> (the CRATE decoder on the bf16 stream against a float32 one, <see cref="Kernels.UseFloat32DecoderStream"/>),
/// <c>attention-explicit</c>, <c>attention-sdpa</c> and <c>attention-fused</c> (the default attention form against one forced form,
/// <see cref="Kernels.Use"/>), and
/// <c>patch-embed-conv</c> (the patch embedding as one GEMM against the strided convolution, <see cref="Kernels.UseConvPatchEmbed"/>).
/// </summary>
public static class Ab
{
    private static readonly Dictionary<string, Func<IDisposable>> Variants = new()
    {
        ["simd"] = () => Kernels.UseLibtorchKernels(),
        ["decoder-stream"] = () => Kernels.UseFloat32DecoderStream(),
        ["attention-explicit"] = () => Kernels.Use(AttentionKernel.Explicit),
        ["attention-sdpa"] = () => Kernels.Use(AttentionKernel.Sdpa),
        ["attention-fused"] = () => Kernels.Use(AttentionKernel.Fused),
        ["patch-embed-conv"] = () => Kernels.UseConvPatchEmbed(),
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
        var off = Variants[o.Variant];
        using var gen = new Generator(1);
        var model = new MaskedAutoencoder(config, gen);
        using var optimizer = new AdamW(ParamGroups.WeightDecaySplit(model, 0.05));
        var images = randn([o.Batch, config.InChans, config.ImgSize, config.ImgSize], generator: gen);
        Console.WriteLine(FormattableString.Invariant(
            $"{config.Name}, batch {o.Batch}, {o.Precision}, {o.Threads} threads: {o.Variant} on / off, {o.Pairs} pairs after {o.Warmup} warm-up pairs"));
        Console.WriteLine($"host: allocator {ThroughputBenchmark.Allocator()}, OpenMP {ThroughputBenchmark.OpenMpSettings()}, kernel threads {ThroughputBenchmark.KernelThreads()}");
        if (o.Phase is "both" or "train")
        {
            model.train();
            Report("train", Pairs(o, off, () =>
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
            Report("embed", Pairs(o, off, () =>
            {
                using var scope = NewDisposeScope();
                model.ForwardFeatures(images);
            }), o.Batch);
            model.train();
        }
        return 0;
    }

    /// <summary>(seconds on, seconds off) per pair, after the warm-up pairs.</summary>
    private static List<(double On, double Off)> Pairs(Options o, Func<IDisposable> off, Action step)
    {
        double Timed(bool on)
        {
            using var variant = on ? null : off();
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

    private sealed record Options(string Variant, string Model, int Batch, int Pairs, int Warmup, int Threads, string Precision, string Phase)
    {
        public static Options Parse(string[] args)
        {
            var values = new Dictionary<string, string>
            {
                ["--variant"] = "simd", ["--model"] = "bench/cmp32.json", ["--batch"] = "64", ["--pairs"] = "60", ["--warmup"] = "20",
                ["--threads"] = "2", ["--precision"] = "bf16", ["--phase"] = "both",
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
            return new Options(values["--variant"], values["--model"], Int("--batch", 1), Int("--pairs", 1), Int("--warmup", 0),
                Int("--threads", 1), values["--precision"], values["--phase"]);
        }
    }
}
