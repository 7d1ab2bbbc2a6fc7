using System.Diagnostics;
using System.Globalization;
using CrateMae.Models;
using CrateMae.Training;
using static TorchSharp.torch;

namespace CrateMae.Bench;

/// <summary>
/// In-process A/B of our AVX-512 kernels against libtorch's ops (<see cref="Kernels.UseLibtorchKernels"/>): the two
/// sides alternate every few steps in one process, so both see the same machine (on a shared VM, separate processes
/// minutes apart differ by ±20 %). Reports the median img/s of each side and the median of the per-round ratios,
/// for full training steps and for feature extraction.
/// <code>dotnet run -c Release --project bench/CrateMae.Bench -- ab-simd --model bench/cmp32.json --batch 64 --steps 10 --rounds 10</code>
/// </summary>
public static class AbSimd
{
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
        using var gen = new Generator(1);
        var model = new MaskedAutoencoder(config, gen);
        using var optimizer = new AdamW(ParamGroups.WeightDecaySplit(model, 0.05));
        var images = randn([o.Batch, config.InChans, config.ImgSize, config.ImgSize], generator: gen);
        var rounds = new List<(double TrainOn, double TrainOff, double EmbedOn, double EmbedOff)>();
        for (int r = 0; r < o.Rounds; r++)
        {
            double trainOn = Train(model, optimizer, images, precision, o, gen);
            double trainOff;
            using (Kernels.UseLibtorchKernels()) trainOff = Train(model, optimizer, images, precision, o, gen);
            double embedOn = Embed(model, images, precision, o);
            double embedOff;
            using (Kernels.UseLibtorchKernels()) embedOff = Embed(model, images, precision, o);
            rounds.Add((trainOn, trainOff, embedOn, embedOff));
            Console.WriteLine(FormattableString.Invariant(
                $"round {r + 1}/{o.Rounds}: train on {trainOn:F1} off {trainOff:F1} ({trainOn / trainOff:F3}), embed on {embedOn:F1} off {embedOff:F1} ({embedOn / embedOff:F3}) img/s"));
        }
        Console.WriteLine(FormattableString.Invariant($"\n{config.Name}, batch {o.Batch}, {o.Precision}, {o.Threads} threads, {o.Rounds} rounds"));
        Report("train", rounds.Select(x => (x.TrainOn, x.TrainOff)).ToList());
        Report("embed", rounds.Select(x => (x.EmbedOn, x.EmbedOff)).ToList());
        return 0;
    }

    private static void Report(string phase, List<(double On, double Off)> r)
    {
        var ratios = string.Join(", ", r.Select(x => (x.On / x.Off).ToString("F3", CultureInfo.InvariantCulture)));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  {phase}: kernels on {Median(r.Select(x => x.On)):F1} img/s, libtorch {Median(r.Select(x => x.Off)):F1}; on/off per round {ratios} → median {Median(r.Select(x => x.On / x.Off)):F3}"));
    }

    /// <summary>Median img/s of <c>--steps</c> training steps after one untimed step.</summary>
    private static double Train(MaskedAutoencoder model, AdamW optimizer, Tensor images, ScalarType? precision, Options o, Generator gen)
    {
        model.train();
        return Time(o, () =>
        {
            using var scope = NewDisposeScope();
            var noise = rand([images.shape[0], model.Config.NumPatches], generator: gen);
            TrainingStep.Run(model, optimizer, images, noise, 0.75, precision, 1e-4);
        });
    }

    /// <summary>Median img/s of <c>--steps</c> feature extractions (no autograd) after one untimed one.</summary>
    private static double Embed(MaskedAutoencoder model, Tensor images, ScalarType? precision, Options o)
    {
        model.eval();
        using var noGrad = no_grad();
        using var p = MatmulPrecision.Use(precision);
        double imgPerS = Time(o, () =>
        {
            using var scope = NewDisposeScope();
            model.ForwardFeatures(images);
        });
        model.train();
        return imgPerS;
    }

    private static double Time(Options o, Action step)
    {
        step();
        var perStep = new List<double>();
        for (int i = 0; i < o.Steps; i++)
        {
            var sw = Stopwatch.StartNew();
            step();
            perStep.Add(o.Batch / sw.Elapsed.TotalSeconds);
        }
        return Median(perStep);
    }

    private static double Median(IEnumerable<double> values)
    {
        var v = values.OrderBy(x => x).ToArray();
        return v.Length % 2 == 1 ? v[v.Length / 2] : 0.5 * (v[v.Length / 2 - 1] + v[v.Length / 2]);
    }

    private sealed record Options(string Model, int Batch, int Steps, int Rounds, int Threads, string Precision)
    {
        public static Options Parse(string[] args)
        {
            var values = new Dictionary<string, string>
            {
                ["--model"] = "bench/cmp32.json", ["--batch"] = "64", ["--steps"] = "10", ["--rounds"] = "10",
                ["--threads"] = "2", ["--precision"] = "bf16",
            };
            for (int i = 0; i < args.Length; i += 2)
            {
                if (!values.ContainsKey(args[i]) || i + 1 >= args.Length)
                    throw new ArgumentException($"ab-simd: unknown option or missing value at '{args[i]}' (options: {string.Join(", ", values.Keys)})");
                values[args[i]] = args[i + 1];
            }
            int Int(string key) => int.TryParse(values[key], CultureInfo.InvariantCulture, out var n) && n > 0
                ? n : throw new ArgumentException($"{key} {values[key]}: expected a positive integer");
            return new Options(values["--model"], Int("--batch"), Int("--steps"), Int("--rounds"), Int("--threads"), values["--precision"]);
        }
    }
}
