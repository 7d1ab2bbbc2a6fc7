using System.Text.Json;
using CrateMae.Benchmarking;
using CrateMae.Hosting;
using CrateMae.Models;

namespace CrateMae.Tests.Bench;

/// <summary>The bench result's JSON schema (docs/bench-schema.md) and the analytic FLOP count. No timing assertions.</summary>
public sealed class ThroughputBenchmarkTests
{
    private static readonly MaeConfig Tiny = new()
    {
        Name = "tiny-bench", ImgSize = 16, PatchSize = 4, InChans = 3, EmbedDim = 32, Depth = 1, NumHeads = 2,
        DecoderEmbedDim = 32, DecoderDepth = 1, DecoderNumHeads = 2,
    };

    [Fact]
    public void Given_an_earlier_backward_on_this_thread_without_release_When_benchmarked_Then_the_live_tensor_counts_still_match()
    {
        // Given: a backward through our custom functions, whose last returned gradient wrapper waits for the next
        // backward on this thread (AutogradHandoff) — as after any test or user code that does not call ReleaseAll
        using (var model = new MaskedAutoencoder(Tiny, new TorchSharp.torch.Generator(1)))
        using (MatmulPrecision.Use(TorchSharp.torch.ScalarType.BFloat16))
        {
            using var output = model.Forward(TorchSharp.torch.randn(2, 3, 16, 16), 0.75);
            output.Loss.backward();
        }

        // When
        var result = ThroughputBenchmark.Run(new ThroughputOptions
        {
            Config = Tiny, Batch = 2, Steps = 1, Warmup = 1, Precision = "bf16", Threads = 1, PeakSize = 0,
        });

        // Then: the bench's first backward released that wrapper, but it belongs to the earlier code, not to the run
        using var doc = JsonDocument.Parse(result.ToJson());
        var memory = doc.RootElement.GetProperty("memory");
        Assert.Equal(memory.GetProperty("live_tensors_start").GetInt64(), memory.GetProperty("live_tensors_end").GetInt64());
    }

    [Theory]
    [InlineData("fp32")]
    [InlineData("bf16")]
    public void Given_a_tiny_model_When_benchmarked_Then_the_json_has_every_documented_field(string precision)
    {
        var result = ThroughputBenchmark.Run(new ThroughputOptions
        {
            Config = Tiny, Batch = 2, Steps = 2, Warmup = 1, Precision = precision, Threads = 1, PeakSize = 64, CpuHasNativeBf16 = true,
        });
        using var doc = JsonDocument.Parse(result.ToJson());
        var root = doc.RootElement;
        Assert.Equal("crate-mae/bench/2", root.GetProperty("schema").GetString());
        Assert.Equal("tiny-bench", root.GetProperty("model").GetString());
        Assert.Equal(16, root.GetProperty("config").GetProperty("img_size").GetInt32());
        foreach (var (key, kind) in new[]
                 {
                     ("img_size", JsonValueKind.Number), ("batch", JsonValueKind.Number), ("steps", JsonValueKind.Number),
                     ("warmup", JsonValueKind.Number), ("precision", JsonValueKind.String), ("threads", JsonValueKind.Number),
                     ("device", JsonValueKind.String), ("mask_ratio", JsonValueKind.Number), ("parameters", JsonValueKind.Number),
                     ("train", JsonValueKind.Object), ("embed", JsonValueKind.Object), ("peak", JsonValueKind.Object),
                     ("memory", JsonValueKind.Object), ("host", JsonValueKind.Object),
                 })
            Assert.Equal(kind, root.GetProperty(key).ValueKind);
        Assert.Equal(precision, root.GetProperty("precision").GetString());
        Assert.Equal(1, root.GetProperty("threads").GetInt32());
        foreach (var phase in new[] { "train", "embed" })
        {
            var p = root.GetProperty(phase);
            Assert.Equal(2, p.GetProperty("steps").GetInt32());
            Assert.Equal(2, p.GetProperty("step_seconds").GetArrayLength());
            foreach (var key in new[] { "median_seconds", "best_seconds", "median_img_per_s", "best_img_per_s", "median_cpu_seconds",
                                        "gflop_per_step", "median_gflops", "best_gflops", "mfu_median", "mfu_best",
                                        "live_tensors_after_warmup", "live_tensors_after_steps", "rss_after_warmup_mb", "rss_after_steps_mb" })
                Assert.True(p.GetProperty(key).GetDouble() >= 0, $"{phase}.{key}");
            Assert.True(p.GetProperty("best_img_per_s").GetDouble() >= p.GetProperty("median_img_per_s").GetDouble());
            Assert.Equal(p.GetProperty("live_tensors_after_warmup").GetInt64(), p.GetProperty("live_tensors_after_steps").GetInt64());
            Assert.Equal(2, p.GetProperty("rss_trace_mb").GetArrayLength());
            int warm = p.GetProperty("warmup_steps").GetInt32();
            Assert.InRange(warm, root.GetProperty("warmup").GetInt32(), root.GetProperty("warmup").GetInt32() + ThroughputBenchmark.MaxExtraWarmup);
            Assert.True(p.GetProperty("jit_seconds_during_steps").GetDouble() >= 0);
        }
        Assert.True(double.IsFinite(root.GetProperty("train").GetProperty("last_loss").GetDouble()));
        Assert.Equal(JsonValueKind.Null, root.GetProperty("embed").GetProperty("last_loss").ValueKind);
        var peak = root.GetProperty("peak");
        Assert.Equal(64, peak.GetProperty("size").GetInt32());
        foreach (var key in new[] { "fp32_gflops", "bf16_gflops", "model_shape_fp32_gflops", "model_shape_bf16_gflops" })
            Assert.True(peak.GetProperty(key).GetDouble() > 0, key);
        Assert.Equal("[34, 32]·[32, 32]", peak.GetProperty("model_shape").GetString());
        var memory = root.GetProperty("memory");
        foreach (var key in new[] { "rss_start_mb", "rss_end_mb", "peak_rss_mb", "live_tensors_start", "live_tensors_end" })
            Assert.True(memory.GetProperty(key).GetDouble() >= 0, key);
        Assert.Equal(memory.GetProperty("live_tensors_start").GetInt64(), memory.GetProperty("live_tensors_end").GetInt64());
        var host = root.GetProperty("host");
        Assert.True(host.GetProperty("cores").GetInt32() >= 1);
        Assert.False(string.IsNullOrEmpty(host.GetProperty("allocator").GetString()));
        Assert.False(string.IsNullOrEmpty(host.GetProperty("open_mp").GetString()));
        Assert.False(string.IsNullOrEmpty(host.GetProperty("kernel_threads").GetString()));
        Assert.True(DateTimeOffset.TryParse(host.GetProperty("timestamp").GetString(), out _));
    }

    [Theory]
    [InlineData("VmRSS:\t    1820 kB", 1820 / 1024.0)]
    [InlineData("VmRSS:\t 1369088 kB", 1337.0)]
    [InlineData("VmRSS:\t10240000 kB", 10000.0)]    // from 10 GB up the kernel leaves no space after the tab
    [InlineData("VmHWM:\t  524288 kB", null)]
    public void Given_a_proc_status_line_When_parsed_Then_the_field_is_read_in_MB_at_any_size(string line, double? expected)
    {
        var mb = ProcessStatus.FieldMegabytes(line, "VmRSS");
        if (expected is null) Assert.Null(mb);
        else Assert.Equal(expected.Value, mb!.Value, 6);
    }

    [Fact]
    public void Given_only_embedding_and_no_peak_When_benchmarked_Then_those_fields_are_null()
    {
        var result = ThroughputBenchmark.Run(new ThroughputOptions
        {
            Config = Tiny, Batch = 1, Steps = 1, Warmup = 0, Threads = 1, Train = false, PeakSize = 0,
        });
        using var doc = JsonDocument.Parse(result.ToJson());
        Assert.Equal(JsonValueKind.Null, doc.RootElement.GetProperty("train").ValueKind);
        Assert.Equal(JsonValueKind.Null, doc.RootElement.GetProperty("peak").ValueKind);
        Assert.Equal(JsonValueKind.Null, doc.RootElement.GetProperty("embed").GetProperty("mfu_median").ValueKind);
    }

    [Theory]
    [InlineData("fp32")]
    [InlineData("bf16")]
    public void Given_a_cpu_without_bf16_instructions_When_the_peak_is_measured_Then_it_times_no_bf16_product(string precision)
    {
        var result = ThroughputBenchmark.Run(new ThroughputOptions
        {
            Config = Tiny, Batch = 1, Steps = 1, Warmup = 0, Precision = precision, Threads = 1, Embed = false, PeakSize = 64,
            CpuHasNativeBf16 = false,
        });

        var peak = result.Peak!;
        Assert.True(peak.Fp32Gflops > 0 && peak.ModelShapeFp32Gflops > 0);
        Assert.Null(peak.Bf16Gflops);
        Assert.Null(peak.ModelShapeBf16Gflops);
        // The MFU of a bf16 run needs the bf16 peak that was not measured; an fp32 run keeps its own.
        Assert.Equal(precision == "fp32", result.Train!.MfuMedian is not null);
        using var doc = JsonDocument.Parse(result.ToJson());
        Assert.Equal(JsonValueKind.Null, doc.RootElement.GetProperty("peak").GetProperty("bf16_gflops").ValueKind);
    }

    private sealed class RecordingGate : IStepGate
    {
        public List<string> Events { get; } = [];
        public void Before(string phase, bool timed) => Events.Add($"before {phase} {(timed ? "timed" : "warmup")}");
        public void After(string phase, bool timed, double seconds)
        {
            Assert.True(seconds > 0);
            Events.Add($"after {phase} {(timed ? "timed" : "warmup")}");
        }
    }

    [Fact]
    public void Given_a_step_gate_When_benchmarked_Then_it_is_asked_before_and_told_after_every_warmup_and_timed_step_in_order()
    {
        var gate = new RecordingGate();
        var result = ThroughputBenchmark.Run(new ThroughputOptions
        {
            Config = Tiny, Batch = 1, Steps = 3, Warmup = 1, Threads = 1, PeakSize = 0, Gate = gate,
        });
        var expected = new List<string>();
        foreach (var (phase, r) in new[] { ("train", result.Train!), ("embed", result.Embed!) })
        {
            for (int i = 0; i < r.WarmupSteps; i++) expected.AddRange([$"before {phase} warmup", $"after {phase} warmup"]);
            for (int i = 0; i < r.Steps; i++) expected.AddRange([$"before {phase} timed", $"after {phase} timed"]);
        }
        Assert.Equal(expected, gate.Events);
        Assert.Equal(3, result.Train!.Steps);
    }

    [Fact]
    public void Given_the_lockstep_line_protocol_When_a_step_is_gated_Then_it_announces_waits_for_go_and_reports_the_time()
    {
        var output = new StringWriter();
        var gate = new LineStepGate(new StringReader("go\n"), output);
        gate.Before("train", timed: false);
        gate.After("train", timed: false, 0.25);
        Assert.Equal($"lockstep: ready train warmup{Environment.NewLine}lockstep: done train 0.25{Environment.NewLine}", output.ToString());
    }

    [Theory]
    [InlineData("", "the input ended while the next embed step waited for 'go'")]
    [InlineData("stop\n", "expected a line 'go' on the input before the next embed step, got 'stop'")]
    public void Given_the_lockstep_protocol_When_the_input_is_not_go_Then_the_run_stops_naming_the_option(string input, string message)
    {
        var gate = new LineStepGate(new StringReader(input), TextWriter.Null);
        var e = Assert.Throws<InvalidOperationException>(() => gate.Before("embed", timed: true));
        Assert.Equal($"--lockstep: {message}", e.Message);
    }

    [Fact]
    public void Given_the_32px_comparison_model_When_counting_FLOPs_Then_the_documented_formula_holds()
    {
        // 32 px, patch 4 (L = 64, N = 65), D = 192, 6 heads, 6 + 6 layers, 3 channels (docs/bench-schema.md).
        var c = new MaeConfig
        {
            ImgSize = 32, PatchSize = 4, InChans = 3, EmbedDim = 192, Depth = 6, NumHeads = 6,
            DecoderEmbedDim = 192, DecoderDepth = 6, DecoderNumHeads = 6,
        };
        const double n = 65, d = 192, l = 64, p = 48;
        double encoder = 8 * n * d * d + 4 * n * n * d;
        double decoder = 6 * n * d * d + 4 * n * n * d;
        double forward = 2 * l * p * d + 6 * encoder + 6 * decoder + 2 * n * d * p;
        Assert.Equal(forward, FlopCount.ForwardPerImage(c), 6);
        Assert.Equal(3 * 64 * forward, FlopCount.TrainingStep(c, 64), 6);
        Assert.Equal(64 * (2 * l * p * d + 6 * encoder), FlopCount.EmbeddingStep(c, 64), 6);
        Assert.Equal(46.58, FlopCount.TrainingStep(c, 64) / 1e9, 2);
    }

    [Fact]
    public void Given_official_mae_semantics_When_counting_Then_the_encoder_sees_only_visible_tokens()
    {
        var c = Presets.Get("mae-vit-small");
        long keep = 1 + RandomMasking.KeepCount(c.NumPatches, 0.75);              // 1 + 49
        double d = c.EmbedDim, dd = c.DecoderEmbedDim, n = c.NumPatches + 1;
        double vit(double t, double w) => 8 * t * w * w + 4 * t * t * w + 4 * t * w * 4 * w;
        double expected = 2.0 * c.NumPatches * c.PatchPixels * d + 12 * vit(keep, d) + 2 * keep * d * dd + 8 * vit(n, dd)
                          + 2 * n * dd * c.PatchPixels;
        Assert.Equal(expected, FlopCount.ForwardPerImage(c), 6);
    }
}
