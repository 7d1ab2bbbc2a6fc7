using CrateMae.Kernels;
using System.Diagnostics;
using System.Runtime;
using System.Text.Json;
using System.Text.Json.Serialization;
using CrateMae.Hosting;
using CrateMae.Models;
using CrateMae.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace CrateMae.Benchmarking;

/// <summary>What <see cref="ThroughputBenchmark.Run"/> measures.</summary>
public sealed record ThroughputOptions
{
    public required MaeConfig Config { get; init; }
    public int Batch { get; init; } = 64;
    /// <summary>Timed steps of each kind (after <see cref="Warmup"/> untimed ones).</summary>
    public int Steps { get; init; } = 10;
    public int Warmup { get; init; } = 2;
    /// <summary><c>fp32</c> or <c>bf16</c> (see <see cref="MatmulPrecision.Parse"/>).</summary>
    public string Precision { get; init; } = "fp32";
    /// <summary>libtorch intra-op threads; null keeps the current setting.</summary>
    public int? Threads { get; init; }
    public string Device { get; init; } = "cpu";
    public double MaskRatio { get; init; } = 0.75;
    public double Lr { get; init; } = 1.5e-4;
    public double WeightDecay { get; init; } = 0.05;
    public bool Train { get; init; } = true;
    public bool Embed { get; init; } = true;
    /// <summary>Side of the square matrices of the peak measurement (0 skips it).</summary>
    public int PeakSize { get; init; } = 2048;
    public int Seed { get; init; }
    /// <summary>Called around every step, warm-up and timed (<c>--lockstep</c>); null runs the steps back to back.</summary>
    public IStepGate? Gate { get; init; }
    /// <summary>
    /// Whether the CPU multiplies bf16 natively (<see cref="MatmulPrecision.CpuHasNativeBf16"/>, the default). Without
    /// it the peak measures no bf16 products on a CPU device: libtorch emulates them there, several to hundreds of times
    /// slower than fp32 (a 2048² bf16 product took minutes on an AVX2 CPU).
    /// </summary>
    public bool CpuHasNativeBf16 { get; init; } = MatmulPrecision.CpuHasNativeBf16;

    public ThroughputOptions Validate()
    {
        Config.Validate();
        if (Batch < 1) throw new ArgumentException("--batch: expected an integer ≥ 1");
        if (Steps < 1) throw new ArgumentException("--steps: expected an integer ≥ 1");
        if (Warmup < 0) throw new ArgumentException("--warmup: expected an integer ≥ 0");
        if (Threads is <= 0) throw new ArgumentException("--threads: expected an integer ≥ 1");
        if (PeakSize < 0) throw new ArgumentException("--peak-size: expected an integer ≥ 0");
        MatmulPrecision.Parse(Precision);
        RandomMasking.KeepCount(Config.NumPatches, MaskRatio);
        return this;
    }
}

/// <summary>Timings of one kind of step.</summary>
public sealed record PhaseResult
{
    public required int Steps { get; init; }
    public required double[] StepSeconds { get; init; }
    public required double MedianSeconds { get; init; }
    public required double BestSeconds { get; init; }
    public required double MedianImgPerS { get; init; }
    public required double BestImgPerS { get; init; }
    /// <summary>Median process CPU time per step (all threads, user + system). On a loaded machine with one thread,
    /// batch / median CPU seconds estimates the unloaded throughput better than the wall time does.</summary>
    public required double MedianCpuSeconds { get; init; }
    /// <summary>Analytic FLOPs of one step (see <see cref="FlopCount"/>), in GFLOP.</summary>
    public required double GflopPerStep { get; init; }
    public required double MedianGflops { get; init; }
    public required double BestGflops { get; init; }
    /// <summary>Median GFLOP/s over the measured square-matmul peak of the precision in use (null without a peak).</summary>
    public double? MfuMedian { get; init; }
    public double? MfuBest { get; init; }
    /// <summary>Loss of the last timed training step (null for embedding).</summary>
    public double? LastLoss { get; init; }
    /// <summary>Live tensors on this thread after the warm-up steps and after the last step (equal when nothing leaks).</summary>
    public long LiveTensorsAfterWarmup { get; init; }
    public long LiveTensorsAfterSteps { get; init; }
    /// <summary>Resident set size (MB) after the warm-up and after the last step.</summary>
    public double RssAfterWarmupMb { get; init; }
    public double RssAfterStepsMb { get; init; }
    /// <summary>RSS (MB) after every tenth of the timed steps (up to 10 samples): flat when memory does not grow.</summary>
    public double[] RssTraceMb { get; init; } = [];
    /// <summary>
    /// Seconds the .NET JIT spent compiling (all threads) during the timed steps: on a 2-core machine, background
    /// tier-1 recompilation competes with libtorch for a core, so this should be near 0 for the timing to be steady state.
    /// </summary>
    public double JitSecondsDuringSteps { get; init; }
    /// <summary>Untimed warm-up steps actually run: at least the requested ones, more while the JIT was busy.</summary>
    public int WarmupSteps { get; init; }
}

/// <summary>Square-matmul peak measured in the same process: best of several n×n · n×n products.</summary>
public sealed record MatmulPeak
{
    public required int Size { get; init; }
    public required double Fp32Gflops { get; init; }
    /// <summary>Null where bf16 products were not measured (a CPU without bf16 instructions).</summary>
    public required double? Bf16Gflops { get; init; }
    /// <summary>[B·N, D]·[D, D] at the model's token count and width (fp32 and bf16): what its linear layers can reach.</summary>
    public required string ModelShape { get; init; }
    public required double ModelShapeFp32Gflops { get; init; }
    public required double? ModelShapeBf16Gflops { get; init; }
}

/// <summary>Process memory and live tensors (this thread's TorchSharp wrappers).</summary>
public sealed record MemoryResult
{
    public required double RssStartMb { get; init; }
    public required double RssEndMb { get; init; }
    /// <summary>VmHWM: the peak resident set of the whole process so far.</summary>
    public required double PeakRssMb { get; init; }
    public required long LiveTensorsStart { get; init; }
    public required long LiveTensorsEnd { get; init; }
}

/// <summary>The result of <see cref="ThroughputBenchmark.Run"/>; the JSON schema is documented in docs/bench-schema.md.</summary>
public sealed record ThroughputResult
{
    public string Schema { get; init; } = ThroughputBenchmark.SchemaId;
    public required string Model { get; init; }
    public required JsonElement Config { get; init; }
    public required int ImgSize { get; init; }
    public required int Batch { get; init; }
    public required int Steps { get; init; }
    public required int Warmup { get; init; }
    public required string Precision { get; init; }
    public required int Threads { get; init; }
    public required string Device { get; init; }
    public required double MaskRatio { get; init; }
    public required long Parameters { get; init; }
    public PhaseResult? Train { get; init; }
    public PhaseResult? Embed { get; init; }
    public MatmulPeak? Peak { get; init; }
    public required MemoryResult Memory { get; init; }
    public required HostInfo Host { get; init; }

    /// <summary>The same feature extraction in ONNX Runtime (<c>bench --onnx</c>), for comparison; null when not measured.</summary>
    public OnnxRuntimeResult? OnnxRuntime { get; init; }

    public string ToJson() => JsonSerializer.Serialize(this, ThroughputBenchmark.JsonOptions);
}

/// <summary>Feature extraction of the exported encoder (float32) in ONNX Runtime on the same images, batch and threads.</summary>
public sealed record OnnxRuntimeResult
{
    public required string Version { get; init; }
    public required int IntraOpThreads { get; init; }
    public required double[] StepSeconds { get; init; }
    public required double MedianImgPerS { get; init; }
    public required double BestImgPerS { get; init; }

    /// <summary>Largest max|Δ|/max|ref| between ONNX Runtime's features and ours on the benchmark images.</summary>
    public required double MaxRelativeDifference { get; init; }
}

/// <summary>Where the numbers were taken.</summary>
public sealed record HostInfo
{
    /// <summary>The processor and its relevant instruction sets (<see cref="CpuDescription"/>); a speed is only comparable on the same one.</summary>
    public string? Cpu { get; init; }

    public required int Cores { get; init; }
    /// <summary>1-minute load average before and after the run (other processes make timings noisy).</summary>
    public required double LoadBefore { get; init; }
    public required double LoadAfter { get; init; }
    public required string Allocator { get; init; }
    /// <summary>The OpenMP settings in the environment (<c>OMP_*</c>, <c>GOMP_*</c>), or "default".</summary>
    public required string OpenMp { get; init; }
    /// <summary>Which threads run the second half of our C# row kernels: libtorch's OpenMP team or the .NET pool (and why).</summary>
    public required string KernelThreads { get; init; }
    /// <summary>The vector width our C# kernels run at (<c>CRATE_MAE_SIMD</c> and the CPU): 512, 256, 128, or 0 when off.</summary>
    public required int KernelBits { get; init; }
    public required string Timestamp { get; init; }
}

/// <summary>
/// Measures training and feature-extraction throughput of a model config: warm-up, then N full training steps (masked
/// forward, backward, AdamW step with the trainer's parameter groups, via <see cref="TrainingStep"/>) and N
/// <c>ForwardFeatures</c> steps under no_grad, on synthetic N(0, 1) images; per-step wall times → median and best img/s;
/// analytic FLOPs (<see cref="FlopCount"/>) → GFLOP/s and MFU against a matmul peak measured in the same run.
/// </summary>
public static class ThroughputBenchmark
{
    public const string SchemaId = "crate-mae/bench/2";

    internal static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
    };

    public static ThroughputResult Run(ThroughputOptions options, Action<string>? progress = null)
    {
        options.Validate();
        var c = options.Config;
        if (options.Threads is { } t) set_num_threads(t);
        var device = DeviceChoice.Parse(options.Device);
        var precision = MatmulPrecision.Parse(options.Precision);
        double loadBefore = ProcessStatus.LoadAverage();
        // The end count is taken after a full collection; so is this one, or tensors that earlier code on this thread
        // dropped without disposing would be finalised in between and make the counts differ. Likewise the gradient
        // wrappers an earlier backward on this thread left to AutogradHandoff: the run's first backward would free them.
        GC.Collect();
        GC.WaitForPendingFinalizers();
        AutogradHandoff.ReleaseAll();
        long liveStart = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        double rssStart = ProcessStatus.Megabytes("VmRSS");

        PhaseResult? train = null, embed = null;
        MatmulPeak? peak = null;
        long parameters;
        using (NewDisposeScope())
        {
            random.manual_seed(options.Seed);
            using var init = new Generator((ulong)options.Seed);
            using var model = new MaskedAutoencoder(c, init);
            model.to(device);
            parameters = model.parameters().Sum(p => p.numel());
            (train, embed) = MeasurePhases(model, options, device, precision, progress);
        }
        if (options.PeakSize > 0)
        {
            progress?.Invoke("matmul peak");
            bool bf16 = device.type != DeviceType.CPU || options.CpuHasNativeBf16;
            peak = MeasurePeak(options.PeakSize, options.Batch * (c.NumPatches + 1), c.EmbedDim, device, bf16);
            double? peakGflops = precision is null ? peak.Fp32Gflops : peak.Bf16Gflops;
            train = WithMfu(train, peakGflops);
            embed = WithMfu(embed, peakGflops);
        }

        GC.Collect();
        GC.WaitForPendingFinalizers();
        var memory = new MemoryResult
        {
            RssStartMb = rssStart,
            RssEndMb = ProcessStatus.Megabytes("VmRSS"),
            PeakRssMb = ProcessStatus.Megabytes("VmHWM"),
            LiveTensorsStart = liveStart,
            LiveTensorsEnd = DisposeScopeManager.Statistics.ThreadTotalLiveCount,
        };
        return new ThroughputResult
        {
            Model = c.Name,
            Config = JsonDocument.Parse(c.ToJson()).RootElement.Clone(),
            ImgSize = c.ImgSize,
            Batch = options.Batch,
            Steps = options.Steps,
            Warmup = options.Warmup,
            Precision = precision is null ? "fp32" : "bf16",
            Threads = get_num_threads(),
            Device = device.ToString(),
            MaskRatio = options.MaskRatio,
            Parameters = parameters,
            Train = train,
            Embed = embed,
            Peak = peak,
            Memory = memory,
            Host = new HostInfo
            {
                Cpu = CpuDescription.Current,
                Cores = Environment.ProcessorCount,
                LoadBefore = loadBefore,
                LoadAfter = ProcessStatus.LoadAverage(),
                Allocator = Allocator(),
                OpenMp = OpenMpSettings(),
                KernelThreads = KernelThreads(),
                KernelBits = Kernels.KernelOptions.Default.VectorBits,
                Timestamp = DateTimeOffset.UtcNow.ToString("O"),
            },
        };
    }

    private static (PhaseResult? Train, PhaseResult? Embed) MeasurePhases(MaskedAutoencoder model, ThroughputOptions options,
        Device device, ScalarType? precision, Action<string>? progress)
    {
        PhaseResult? train = null, embed = null;
        if (options.Train)
        {
            progress?.Invoke("training steps");
            train = MeasureTraining(model, options, device, precision);
        }
        if (options.Embed)
        {
            progress?.Invoke("feature-extraction steps");
            embed = MeasureEmbedding(model, options, device, precision);
        }
        return (train, embed);
    }

    private static PhaseResult MeasureTraining(MaskedAutoencoder model, ThroughputOptions o, Device device, ScalarType? precision)
    {
        var c = o.Config;
        var groups = ParamGroups.WeightDecaySplit(model, o.WeightDecay);
        using var optimizer = new AdamW(groups);
        using var imageGen = new Generator((ulong)o.Seed + 1);
        var images = randn(o.Batch, c.InChans, c.ImgSize, c.ImgSize, generator: imageGen).to(device);
        model.train();
        double loss = double.NaN;
        var run = RunSteps(o, "train", i =>
        {
            using var gen = new Generator(Pretrainer.StepSeed(o.Seed, i));
            var noise = rand(o.Batch, c.NumPatches, generator: gen).to(device);
            return Timed(() => loss = TrainingStep.Run(model, optimizer, images, noise, o.MaskRatio, precision, o.Lr));
        });
        return run.Summarise(o.Batch, FlopCount.TrainingStep(c, o.Batch, o.MaskRatio)) with { LastLoss = loss };
    }

    private static PhaseResult MeasureEmbedding(MaskedAutoencoder model, ThroughputOptions o, Device device, ScalarType? precision)
    {
        var c = o.Config;
        using var imageGen = new Generator((ulong)o.Seed + 2);
        var images = randn(o.Batch, c.InChans, c.ImgSize, c.ImgSize, generator: imageGen).to(device);
        model.eval();
        PhaseRun run;
        using (no_grad())
        using (MatmulPrecision.Use(precision))
        {
            run = RunSteps(o, "embed", step => Timed(() =>
            {
                var features = model.ForwardFeatures(images);
                _ = features[0, 0, 0].item<float>();    // forces completion on asynchronous devices
            }));
        }
        model.train();
        return run.Summarise(o.Batch, FlopCount.EmbeddingStep(c, o.Batch));
    }

    /// <summary>Wall and process CPU seconds of one call.</summary>
    private static (double Wall, double Cpu) Timed(Action step)
    {
        var cpu = Environment.CpuUsage.TotalTime;
        var sw = Stopwatch.StartNew();
        step();
        sw.Stop();
        return (sw.Elapsed.TotalSeconds, (Environment.CpuUsage.TotalTime - cpu).TotalSeconds);
    }

    /// <summary>Most untimed warm-up steps beyond <see cref="ThroughputOptions.Warmup"/> while the JIT is still busy.</summary>
    internal const int MaxExtraWarmup = 40;

    /// <summary>
    /// Warm-up, then the timed steps (each in its own dispose scope). The warm-up runs at least
    /// <see cref="ThroughputOptions.Warmup"/> steps and goes on (up to <see cref="MaxExtraWarmup"/> more, or 60 s of warm-up steps) until
    /// two steps in a row spent under 1 % of their wall time in the .NET JIT: tiered compilation recompiles hot methods
    /// on a background thread for the first dozen or so steps, which on a 2-core machine takes a core from libtorch
    /// (the 32-px model measured ~1 s of JIT in its first 20 steps, those steps up to 40 % slower). The steady state
    /// is what a training run sees.
    /// </summary>
    private static PhaseRun RunSteps(ThroughputOptions o, string phase, Func<int, (double Wall, double Cpu)> step)
    {
        (double Wall, double Cpu) Gated(int index, bool timed)
        {
            o.Gate?.Before(phase, timed);
            var t = step(index);
            o.Gate?.After(phase, timed, t.Wall);
            return t;
        }

        var run = new PhaseRun();
        double warmupSeconds = 0;   // the steps' own time: with a gate, waiting for other processes does not count
        int quiet = 0, i = 0;
        for (; i < o.Warmup + MaxExtraWarmup; i++)
        {
            if (i >= o.Warmup && (quiet >= 2 || warmupSeconds > 60)) break;
            using var scope = NewDisposeScope();
            var jit = JitInfo.GetCompilationTime();
            var (wall, _) = Gated(i, timed: false);
            warmupSeconds += wall;
            bool jitQuiet = (JitInfo.GetCompilationTime() - jit).TotalSeconds <= 0.01 * wall;
            quiet = jitQuiet ? quiet + 1 : 0;
        }
        run.WarmupSteps = i;
        run.LiveAfterWarmup = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        run.RssAfterWarmupMb = ProcessStatus.Megabytes("VmRSS");
        var jitStart = JitInfo.GetCompilationTime();
        for (int k = 0; k < o.Steps; k++)
        {
            using var scope = NewDisposeScope();
            var (wall, cpu) = Gated(i + k, timed: true);
            run.Times.Add(wall);
            run.Cpus.Add(cpu);
            if (IsTracePoint(k + 1, o.Steps)) run.RssTraceMb.Add(ProcessStatus.Megabytes("VmRSS"));
        }
        run.JitSeconds = (JitInfo.GetCompilationTime() - jitStart).TotalSeconds;
        return run;
    }

    private sealed class PhaseRun
    {
        public List<double> Times { get; } = [];
        public List<double> Cpus { get; } = [];
        public List<double> RssTraceMb { get; } = [];
        public int WarmupSteps { get; set; }
        public long LiveAfterWarmup { get; set; }
        public double RssAfterWarmupMb { get; set; }
        public double JitSeconds { get; set; }

        public PhaseResult Summarise(int batch, double flopPerStep) => ThroughputBenchmark.Summarise(Times, Cpus, batch, flopPerStep) with
        {
            WarmupSteps = WarmupSteps,
            LiveTensorsAfterWarmup = LiveAfterWarmup, LiveTensorsAfterSteps = DisposeScopeManager.Statistics.ThreadTotalLiveCount,
            RssAfterWarmupMb = RssAfterWarmupMb, RssAfterStepsMb = ProcessStatus.Megabytes("VmRSS"), RssTraceMb = RssTraceMb.ToArray(),
            JitSecondsDuringSteps = JitSeconds,
        };
    }

    /// <summary>True after steps ⌈k·n/10⌉, k = 1..10 (every step when n ≤ 10).</summary>
    private static bool IsTracePoint(int done, int total) =>
        total <= 10 || done == total || (done * 10L) / total != ((done - 1) * 10L) / total;

    /// <summary>The median (the mean of the two middle values for an even count).</summary>
    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.OrderBy(x => x).ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : 0.5 * (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]);
    }

    private static PhaseResult Summarise(List<double> times, List<double> cpus, int batch, double flop)
    {
        double median = Median(times);
        double best = times.Min();
        return new PhaseResult
        {
            Steps = times.Count,
            StepSeconds = times.Select(x => Math.Round(x, 6)).ToArray(),
            MedianSeconds = median,
            BestSeconds = best,
            MedianImgPerS = batch / median,
            BestImgPerS = batch / best,
            MedianCpuSeconds = Median(cpus),
            GflopPerStep = flop / 1e9,
            MedianGflops = flop / 1e9 / median,
            BestGflops = flop / 1e9 / best,
        };
    }

    private static PhaseResult? WithMfu(PhaseResult? r, double? peakGflops) =>
        r is null || peakGflops is not > 0 ? r : r with { MfuMedian = r.MedianGflops / peakGflops, MfuBest = r.BestGflops / peakGflops };

    /// <summary>
    /// Best GFLOP/s of square n×n products in fp32 and, with <paramref name="bf16"/>, bf16, and of the model's
    /// [B·N, D]·[D, D] linear shape.
    /// </summary>
    public static MatmulPeak MeasurePeak(int n, long rows, long width, Device device, bool bf16 = true)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        double Best(Tensor a, Tensor b, double flop)
        {
            using var warm = a.matmul(b);
            double best = double.MaxValue, spent = 0;
            for (int i = 0; i < 20 && (i < 3 || spent < 1.5); i++)
            {
                var sw = Stopwatch.StartNew();
                using var y = a.matmul(b);
                if (device.type != DeviceType.CPU) _ = y[0, 0].item<float>();
                double s = sw.Elapsed.TotalSeconds;
                spent += s;
                best = Math.Min(best, s);
            }
            return flop / best / 1e9;
        }
        using var gen = new Generator(7);
        var a32 = randn(n, n, generator: gen).to(device);
        var b32 = randn(n, n, generator: gen).to(device);
        double fp32 = Best(a32, b32, 2.0 * n * n * n);
        double? bf16Square = bf16 ? Best(a32.to(ScalarType.BFloat16), b32.to(ScalarType.BFloat16), 2.0 * n * n * n) : null;
        var x = randn(rows, width, generator: gen).to(device);
        var w = randn(width, width, generator: gen).to(device);
        double flopModel = 2.0 * rows * width * width;
        double m32 = Best(x, w, flopModel);
        double? m16 = bf16 ? Best(x.to(ScalarType.BFloat16), w.to(ScalarType.BFloat16), flopModel) : null;
        return new MatmulPeak
        {
            Size = n, Fp32Gflops = fp32, Bf16Gflops = bf16Square,
            ModelShape = $"[{rows}, {width}]·[{width}, {width}]", ModelShapeFp32Gflops = m32, ModelShapeBf16Gflops = m16,
        };
    }

    /// <summary>
    /// The OpenMP settings of this process's environment (the <c>OMP_</c> and <c>GOMP_</c> variables, such as the wait
    /// policy the CLI sets), sorted by name; "default" when there are none.
    /// </summary>
    public static string OpenMpSettings()
    {
        var parts = Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
            .Select(e => (Name: (string)e.Key, Value: e.Value as string))
            .Where(e => (e.Name.StartsWith("OMP_", StringComparison.Ordinal) || e.Name.StartsWith("GOMP_", StringComparison.Ordinal))
                        && !string.IsNullOrEmpty(e.Value))
            .OrderBy(e => e.Name, StringComparer.Ordinal)
            .Select(e => $"{e.Name}={e.Value}")
            .ToArray();
        return parts.Length == 0 ? "default" : string.Join(" ", parts);
    }

    /// <summary>"openmp" when our row kernels run on libtorch's OpenMP team, else ".NET thread pool (reason)".</summary>
    public static string KernelThreads() => Kernels.OpenMpTeam.Available ? "openmp" : $".NET thread pool ({Kernels.OpenMpTeam.Origin})";

    /// <summary>"jemalloc (MALLOC_CONF)" when jemalloc is mapped into this process, else "glibc".</summary>
    public static string Allocator()
    {
        bool jemalloc = Kernels.OpenMpTeam.MappedFiles() is { Count: > 0 } files
            ? files.Any(f => f.Contains("libjemalloc", StringComparison.Ordinal))
            : (Environment.GetEnvironmentVariable("LD_PRELOAD") ?? "").Contains("jemalloc", StringComparison.Ordinal);
        if (!jemalloc) return "glibc";
        var conf = Environment.GetEnvironmentVariable("MALLOC_CONF");
        return string.IsNullOrEmpty(conf) ? "jemalloc" : $"jemalloc ({conf})";
    }
}
