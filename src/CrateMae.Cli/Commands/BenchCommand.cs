using System.ComponentModel;
using System.Globalization;
using CrateMae.Benchmarking;
using CrateMae.Models;
using CrateMae.Training;
using Spectre.Console;
using Spectre.Console.Cli;

namespace CrateMae.Cli.Commands;

/// <summary>
/// <c>crate-mae bench --model M [--img S] [--batch-size N] [--steps N] [--precision fp32|bf16] [--threads T] [--device cpu] [--json]</c>:
/// training and feature-extraction throughput, GFLOP/s, MFU against a matmul peak of the same run, memory.
/// </summary>
public sealed class BenchCommand : Command<BenchCommand.Settings>
{
    public sealed class Settings : ModelSettings
    {
        [CommandOption("--img <S>")]
        [Description("Image side; overrides the config's img_size.")]
        public int? Img { get; init; }

        [CommandOption("-b|--batch-size <N>")]
        [Description("Images per step (default 8).")]
        public int Batch { get; init; } = 8;

        [CommandOption("--steps <N>")]
        [Description("Timed steps of each kind after the warm-up (default 10).")]
        public int Steps { get; init; } = 10;

        [CommandOption("--warmup <N>")]
        [Description("Untimed warm-up steps of each kind (default 2).")]
        public int Warmup { get; init; } = 2;

        [CommandOption("--precision <P>")]
        [Description("fp32 (default) or bf16 (matrix products in bfloat16; norms, softmax, loss, optimizer in fp32).")]
        public string Precision { get; init; } = "fp32";

        [CommandOption("--device <D>")]
        [Description("cpu (default), cuda, cuda:N.")]
        public string Device { get; init; } = "cpu";

        [CommandOption("--mask-ratio <R>")]
        [Description("Mask ratio of the training steps (default 0.75).")]
        public double MaskRatio { get; init; } = 0.75;

        [CommandOption("--only <WHAT>")]
        [Description("train or embed: measure only one kind of step.")]
        public string? Only { get; init; }

        [CommandOption("--peak-size <N>")]
        [Description("Side of the square matmuls of the peak measurement (default 2048; 0 skips it).")]
        public int PeakSize { get; init; } = 2048;

        [CommandOption("--force")]
        [Description("Run even when the memory estimate exceeds the memory available (default: refuse in one line).")]
        public bool Force { get; init; }

        [CommandOption("--onnx")]
        [Description("Also run the feature extraction in ONNX Runtime on the exported encoder of the same model (same images, batch and threads) and report both.")]
        public bool Onnx { get; init; }

        [CommandOption("--lockstep")]
        [Description("Before every step (warm-up and timed) print 'lockstep: ready PHASE warmup|timed' to stderr and wait for a line 'go' on stdin; after it print 'lockstep: done PHASE SECONDS'. For drivers that alternate the steps of several processes (bench/vs_official.py --paired).")]
        public bool Lockstep { get; init; }

        public override ValidationResult Validate()
        {
            if (Only is not (null or "train" or "embed")) return ValidationResult.Error("--only: expected train or embed");
            if (Img is <= 0) return ValidationResult.Error("--img: expected a positive integer");
            if (Batch < 1) return ValidationResult.Error("--batch-size: expected an integer ≥ 1");
            if (Onnx && (Lockstep || Device != "cpu")) return ValidationResult.Error("--onnx: only on the CPU and without --lockstep");
            return base.Validate();
        }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        settings.Apply();
        var config = Presets.Resolve(settings.Model ?? "crate-small");
        if (settings.Img is { } img) config = (config with { ImgSize = img }).Validate();
        if (!settings.Force) MemoryEstimate.EnsureFits("bench", config, settings.Batch, MatmulPrecision.Resolve(settings.Precision, settings.Device) == "bf16");
        var options = new ThroughputOptions
        {
            Config = config, Batch = settings.Batch, Steps = settings.Steps, Warmup = settings.Warmup,
            Precision = settings.Precision, Threads = settings.Threads, Device = settings.Device, MaskRatio = settings.MaskRatio,
            Train = settings.Only is null or "train", Embed = settings.Only is null or "embed", PeakSize = settings.PeakSize,
            Gate = settings.Lockstep ? new LineStepGate(Console.In, Console.Error) : null,
        }.Validate();

        ThroughputResult result;
        if (settings.Json)
            result = ThroughputBenchmark.Run(options);
        else
            result = AnsiConsole.Status().Start("warming up", ctx => ThroughputBenchmark.Run(options, s => ctx.Status(s)));
        if (settings.Onnx)
            result = result with
            {
                OnnxRuntime = OnnxRuntimeBench.Measure(config, settings.Batch, Math.Max(1, settings.Warmup), settings.Steps, options.Seed),
            };

        if (settings.Json)
        {
            Console.WriteLine(result.ToJson());
            return 0;
        }
        Print(result);
        AnsiConsole.WriteLine("train = masked forward + backward + AdamW step; embed = ForwardFeatures under no_grad; FLOPs: docs/bench-schema.md");
        return 0;
    }

    private static string F(double v, string fmt) => v.ToString(fmt, CultureInfo.InvariantCulture);

    private static string Bf16(double? gflops) => gflops is { } g ? $"{F(g, "F1")} GFLOP/s" : "not measured (no bf16 instructions)";

    private static void Print(ThroughputResult r)
    {
        AnsiConsole.MarkupLineInterpolated(
            $"[bold]{r.Model}[/]: {r.ImgSize} px, batch {r.Batch}, {r.Precision}, {r.Threads} thread(s), {r.Device}, {r.Parameters:N0} parameters; {r.Steps} timed steps after {r.Warmup} warm-up");
        var table = new Table().AddColumns("step", "img/s med", "img/s best", "s/step med", "cpu s/step", "GFLOP/step", "GFLOP/s med", "MFU med");
        void Row(string name, PhaseResult? p)
        {
            if (p is null) return;
            table.AddRow(name, F(p.MedianImgPerS, "F2"), F(p.BestImgPerS, "F2"), F(p.MedianSeconds, "F4"), F(p.MedianCpuSeconds, "F4"),
                F(p.GflopPerStep, "F2"), F(p.MedianGflops, "F1"), p.MfuMedian is { } m ? F(100 * m, "F1") + "%" : "–");
        }
        Row("train", r.Train);
        Row("embed", r.Embed);
        AnsiConsole.Write(table);
        if (r.OnnxRuntime is { } ort)
            AnsiConsole.WriteLine(
                $"ONNX Runtime {ort.Version} (exported encoder, {ort.IntraOpThreads} intra-op thread(s)): embed {F(ort.MedianImgPerS, "F2")} img/s median, {F(ort.BestImgPerS, "F2")} best" +
                (r.Embed is { } e ? $"; ours {F(e.MedianImgPerS / ort.MedianImgPerS, "F2")}× ONNX Runtime's" : "") +
                $"; features within {ort.MaxRelativeDifference:E1} of ours (max|Δ|/max)");
        if (r.Peak is { } pk)
            AnsiConsole.MarkupLineInterpolated(
                $"matmul peak {pk.Size}²: fp32 {F(pk.Fp32Gflops, "F1")} GFLOP/s, bf16 {Bf16(pk.Bf16Gflops)}; model shape {pk.ModelShape}: fp32 {F(pk.ModelShapeFp32Gflops, "F1")}, bf16 {Bf16(pk.ModelShapeBf16Gflops)}");
        var m = r.Memory;
        AnsiConsole.WriteLine(
            $"memory: RSS {F(m.RssStartMb, "F0")} → {F(m.RssEndMb, "F0")} MB, peak {F(m.PeakRssMb, "F0")} MB; live tensors {m.LiveTensorsStart} → {m.LiveTensorsEnd}" +
            (r.Train is { } t ? $"; training steps: live tensors {t.LiveTensorsAfterWarmup} → {t.LiveTensorsAfterSteps}, RSS {F(t.RssAfterWarmupMb, "F0")} → {F(t.RssAfterStepsMb, "F0")} MB" : ""));
        string Warm(string name, PhaseResult? p) =>
            p is null ? "" : $"{name} {p.WarmupSteps} warm-up steps, JIT {F(1000 * p.JitSecondsDuringSteps, "F0")} ms in the timed steps";
        AnsiConsole.WriteLine("warm-up (until the .NET JIT is quiet): " +
            string.Join("; ", new[] { Warm("train", r.Train), Warm("embed", r.Embed) }.Where(x => x.Length > 0)));
        AnsiConsole.WriteLine(
            $"host: {r.Host.Cpu}, {r.Host.Cores} cores, load {F(r.Host.LoadBefore, "F2")} → {F(r.Host.LoadAfter, "F2")}, allocator {r.Host.Allocator}, OpenMP {r.Host.OpenMp}" +
            $", kernels {(r.Host.KernelBits > 0 ? $"{r.Host.KernelBits}-bit" : "off")} on {r.Host.KernelThreads}" +
            (r.Train?.LastLoss is { } l ? $"; last training loss {F(l, "F4")}" : ""));
    }
}
