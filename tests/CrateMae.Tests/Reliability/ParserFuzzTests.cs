using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using CrateMae.Data;
using CrateMae.Interop;
using CrateMae.Models;
using CrateMae.Tests.Data;
using CrateMae.Training;
using SkiaSharp;
using Xunit.Abstractions;

namespace CrateMae.Tests.Reliability;

/// <summary>
/// Random and mutated bytes for every parser not already fuzzed in Interop (idx, CIFAR binary, image decoding,
/// model config JSON, metrics JSONL, checkpoint metadata JSON): only the documented clean errors, each input finishing within a
/// time limit and allocating a bounded amount. Deterministic: $CRATE_MAE_FUZZ_SEED (default 20240601); iterations per parser
/// $CRATE_MAE_FUZZ_ITERATIONS (default 300), each parser also stopping after $CRATE_MAE_FUZZ_SECONDS (default 12) seconds.
/// </summary>
public sealed class ParserFuzzTests(ITestOutputHelper log) : IDisposable
{
    private static readonly int Iterations =
        int.TryParse(Environment.GetEnvironmentVariable("CRATE_MAE_FUZZ_ITERATIONS"), out var n) && n > 0 ? n : 300;

    private static readonly int Seed =
        int.TryParse(Environment.GetEnvironmentVariable("CRATE_MAE_FUZZ_SEED"), out var s) ? s : 20240601;

    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(
        double.TryParse(Environment.GetEnvironmentVariable("CRATE_MAE_FUZZ_SECONDS"), System.Globalization.CultureInfo.InvariantCulture, out var t) && t > 0 ? t : 12);

    /// <summary>No single input may take longer than this (a hang) …</summary>
    private static readonly TimeSpan PerInput = TimeSpan.FromSeconds(20);

    /// <summary>… or allocate more managed memory than this (a header trusted for an allocation).</summary>
    private const long MaxAllocation = 96L << 20;

    private readonly TempDirectory _tmp = new();

    public void Dispose() => _tmp.Dispose();

    /// <summary>Mutations: overwrite, flip, insert, delete, truncate, duplicate a slice, or write a "large number" into 4 bytes.</summary>
    private static byte[] Mutate(byte[] data, Random rng)
    {
        var m = new List<byte>(data);
        int edits = rng.Next(1, 5);
        for (int e = 0; e < edits && m.Count > 0; e++)
        {
            int at = rng.Next(m.Count);
            switch (rng.Next(7))
            {
                case 0: m[at] = (byte)rng.Next(256); break;
                case 1: m[at] ^= (byte)(1 << rng.Next(8)); break;
                case 2: m.Insert(at, (byte)rng.Next(256)); break;
                case 3: m.RemoveAt(at); break;
                case 4: m.RemoveRange(at, m.Count - at); break;
                case 5:
                    int len = Math.Min(rng.Next(1, 64), m.Count - at);
                    m.InsertRange(at, m.GetRange(at, len));
                    break;
                default:
                    var big = new[] { 0x7F, 0xFF, 0xFF, 0xFF, 0x00, 0x01, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00 };
                    int o = rng.Next(3) * 4;
                    for (int i = 0; i < 4 && at + i < m.Count; i++) m[at + i] = (byte)big[o + i];
                    break;
            }
        }
        return m.ToArray();
    }

    private static byte[] RandomBytes(Random rng, int max)
    {
        var b = new byte[rng.Next(0, max)];
        rng.NextBytes(b);
        return b;
    }

    /// <summary>
    /// Feeds <paramref name="make"/>(i, rng) to <paramref name="parse"/> until the iteration or time budget is spent. Allowed failures
    /// are the types in <paramref name="clean"/>; anything else, a hang or a large allocation fails the test naming the iteration.
    /// </summary>
    private void Fuzz(string name, int seedOffset, Func<int, Random, byte[]> make, Action<byte[]> parse, params Type[] clean) =>
        Fuzz(name, seedOffset, make, parse, MaxAllocation, null, clean);

    private void Fuzz(string name, int seedOffset, Func<int, Random, byte[]> make, Action<byte[]> parse, long maxAllocation,
                      string? mustMention, params Type[] clean)
    {
        var rng = new Random(Seed + seedOffset);
        var clock = Stopwatch.StartNew();
        int ok = 0, refused = 0, i = 0;
        var kinds = new Dictionary<string, int>();
        for (; i < Iterations && clock.Elapsed < Budget; i++)
        {
            var input = make(i, rng);
            Exception? error = null;
            long allocated = 0;
            var task = Task.Factory.StartNew(() =>
            {
                long before = GC.GetAllocatedBytesForCurrentThread();
                try { parse(input); }
                catch (Exception e) { error = e; }
                allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            Assert.True(task.Wait(PerInput), $"{name}: input {i} (seed {Seed + seedOffset}, {input.Length} bytes) did not finish within {PerInput}");
            Assert.True(allocated < maxAllocation + (16L * input.Length),
                $"{name}: input {i} (seed {Seed + seedOffset}) allocated {allocated >> 20} MiB for {input.Length} bytes");
            if (error is null) { ok++; continue; }
            Assert.True(clean.Any(t => t.IsInstanceOfType(error)),
                $"{name}: input {i} (seed {Seed + seedOffset}, {input.Length} bytes) threw {error.GetType().Name} instead of {string.Join("/", clean.Select(c => c.Name))}: {error}");
            Assert.False(string.IsNullOrWhiteSpace(error.Message));
            if (mustMention is not null)
                Assert.True(error.Message.Contains(mustMention, StringComparison.Ordinal),
                    $"{name}: input {i} (seed {Seed + seedOffset}): the error does not name {mustMention}: {error}");
            refused++;
            var kind = error.GetType().Name;
            kinds[kind] = kinds.GetValueOrDefault(kind) + 1;
        }
        log.WriteLine($"{name}: {i} inputs in {clock.Elapsed.TotalSeconds:F1} s: {ok} parsed, {refused} refused " +
                      $"({string.Join(", ", kinds.Select(k => $"{k.Key} {k.Value}"))})");
        Assert.True(i >= Math.Min(Iterations, 20), $"{name}: only {i} inputs within the time budget");
    }

    [Fact]
    public void Idx_files()
    {
        var plain = _tmp.File("plain.idx");
        IdxFile.Write(plain, IdxDataType.UInt8, [4, 5, 6], TestFiles.Bytes(120, 1));
        var gz = _tmp.File("gz.idx");
        IdxFile.Write(gz, IdxDataType.Float32, [3, 7], TestFiles.Bytes(84, 2), gzip: true);
        var seeds = new[] { File.ReadAllBytes(plain), File.ReadAllBytes(gz) };
        var path = _tmp.File("fuzz.idx");
        Fuzz("idx", 1, (i, rng) => i % 10 == 0 ? RandomBytes(rng, 200) : Mutate(seeds[i % 2], rng), bytes =>
        {
            File.WriteAllBytes(path, bytes);
            _ = IdxFile.Read(path);
        }, typeof(InvalidDataException));
    }

    [Fact]
    public void Idx_gzip_header_claiming_huge_data_does_not_allocate_it()
    {
        var path = _tmp.File("huge.idx.gz");
        using (var fs = File.Create(path))
        using (var z = new GZipStream(fs, CompressionLevel.Fastest))
            z.Write([0, 0, 0x08, 3, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x7F, 1, 2, 3]);    // 65536 × 32768 × 127 bytes
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<InvalidDataException>(() => IdxFile.Read(path));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 8 << 20);
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void Cifar_batches()
    {
        var dir = _tmp.Dir("cifar-10-batches-bin");
        var good = new byte[3 * 3073];
        new Random(3).NextBytes(good);
        for (int r = 0; r < 3; r++) good[r * 3073] = (byte)(r % 10);
        foreach (var b in new[] { "data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch" })
            File.WriteAllBytes(Path.Combine(dir, b + ".bin"), good);
        var target = Path.Combine(dir, "data_batch_2.bin");
        var meta = Path.Combine(dir, "batches.meta.txt");
        Fuzz("cifar", 2, (i, rng) => i % 10 == 0 ? RandomBytes(rng, 7000) : Mutate(good, rng), bytes =>
        {
            File.WriteAllBytes(target, bytes);
            // Every fifth input also goes into the class-name file.
            if (bytes.Length % 5 == 0) File.WriteAllBytes(meta, bytes.Take(300).ToArray());
            else if (File.Exists(meta)) File.Delete(meta);
            _ = Cifar10.Open(dir, DataSplit.Train);
        }, typeof(InvalidDataException));
    }

    public static TheoryData<string> ImageFormats() => new() { "png", "jpeg", "bmp", "webp", "gif" };

    [Theory]
    [MemberData(nameof(ImageFormats))]
    public void Images(string format)
    {
        var image = TestFiles.RandomRgb(24, 20, 11);
        var file = _tmp.File("seed." + format);
        if (format == "gif")
        {
            // SkiaSharp cannot encode GIF: a minimal 2×2 GIF87a.
            File.WriteAllBytes(file, Convert.FromBase64String("R0lGODdhAgACAPAAAP///wAAACwAAAAAAgACAAACAoRRADs="));
        }
        else
        {
            var fmt = format switch { "png" => SKEncodedImageFormat.Png, "jpeg" => SKEncodedImageFormat.Jpeg, "bmp" => SKEncodedImageFormat.Bmp, _ => SKEncodedImageFormat.Webp };
            if (format == "bmp")
                File.WriteAllBytes(file, Bmp(image));
            else
                TestFiles.WriteImage(file, image, fmt, quality: 80);
        }
        var seed = File.ReadAllBytes(file);
        Assert.NotEmpty(seed);
        var config = Presets.Resolve(Cli.TinyModel);
        var path = _tmp.File("fuzz." + format);
        Fuzz("image/" + format, 3 + format.Length, (i, rng) => (i % 10) switch
        {
            0 => RandomBytes(rng, 2000),
            // PNG chunks carry a CRC: mutate inside a chunk and fix the CRC, so the decoder gets past the checksum.
            < 6 when format == "png" => MutatePngChunk(seed, rng),
            _ => Mutate(seed, rng),
        }, bytes =>
        {
            File.WriteAllBytes(path, bytes);
            using var x = DataSetup.LoadImage(path, config, NormalizationStats.FashionMnist, maxPixels: MaxPixels);
            Assert.Equal(new long[] { 1, 1, 28, 28 }, x.shape);
        }, 48L * MaxPixels, path, typeof(InvalidDataException));
    }

    /// <summary>
    /// The decoder's pixel limit in the image fuzz. Decoding needs about 40 bytes per pixel (RGBA, planar bytes, floats), so a
    /// header's claim is bounded by this limit (the 64-megapixel default in real use), never by the file size.
    /// </summary>
    private const long MaxPixels = 1_000_000;

    private static byte[] MutatePngChunk(byte[] png, Random rng)
    {
        var chunks = new List<(int Start, int Length)>();    // start of the length field, data length
        for (int at = 8; at + 12 <= png.Length;)
        {
            int len = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(at));
            if (len < 0 || at + 12 + len > png.Length) break;
            chunks.Add((at, len));
            at += 12 + len;
        }
        var m = (byte[])png.Clone();
        var (start, length) = chunks[rng.Next(chunks.Count)];
        if (length == 0) return Mutate(png, rng);
        for (int e = rng.Next(1, 4); e > 0; e--)
        {
            int o = start + 8 + rng.Next(length);
            m[o] = rng.Next(3) == 0 ? (byte)0xFF : (byte)rng.Next(256);
        }
        uint crc = Crc32(m.AsSpan(start + 4, 4 + length));
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(m.AsSpan(start + 8 + length), crc);
        return m;
    }

    private static uint Crc32(ReadOnlySpan<byte> data)
    {
        uint c = 0xFFFFFFFF;
        foreach (var b in data)
        {
            c ^= b;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
        }
        return ~c;
    }

    /// <summary>A 24-bit BMP (SkiaSharp encodes no BMP).</summary>
    private static byte[] Bmp(ImageData img)
    {
        int w = img.Width, h = img.Height, row = ((w * 3) + 3) & ~3;
        var b = new byte[54 + (row * h)];
        "BM"u8.CopyTo(b);
        BitConverter.GetBytes(b.Length).CopyTo(b, 2);
        BitConverter.GetBytes(54).CopyTo(b, 10);
        BitConverter.GetBytes(40).CopyTo(b, 14);
        BitConverter.GetBytes(w).CopyTo(b, 18);
        BitConverter.GetBytes(h).CopyTo(b, 22);
        BitConverter.GetBytes((short)1).CopyTo(b, 26);
        BitConverter.GetBytes((short)24).CopyTo(b, 28);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                int o = 54 + ((h - 1 - y) * row) + (x * 3);
                b[o] = img[2, y, x];
                b[o + 1] = img[1, y, x];
                b[o + 2] = img[0, y, x];
            }
        return b;
    }

    [Fact]
    public void Model_config_json()
    {
        var seeds = new[]
        {
            Encoding.UTF8.GetBytes(Presets.Get("crate-fmnist").ToJson()),
            Encoding.UTF8.GetBytes(Cli.TinyModel),
            Encoding.UTF8.GetBytes("""{"kind":"vit","semantics":"official_mae","embed_dim":64,"decoder_embed_dim":32,"num_heads":4,"decoder_num_heads":4,"lambd":1e308,"eta":-0.0}"""),
        };
        Fuzz("config", 4, (i, rng) => (i % 10) switch
        {
            0 => RandomBytes(rng, 300),
            < 6 => ReplaceNumber(seeds[i % seeds.Length], rng),
            _ => Mutate(seeds[i % seeds.Length], rng),
        }, bytes =>
        {
            var config = MaeConfig.FromJson(Encoding.UTF8.GetString(bytes));
            // What parses must be usable: parameter counts do not overflow or throw.
            Assert.True(ParameterCount.Of(config).Total > 0);
        }, typeof(ArgumentException));
    }

    /// <summary>Replaces one or two numbers of a JSON text with extreme values (keeps the JSON valid, so validation is exercised).</summary>
    private static byte[] ReplaceNumber(byte[] json, Random rng)
    {
        string[] extremes = ["0", "-1", "1", "3", "7", "1000000", "2147483647", "-2147483648", "4294967296", "1e308", "-0.0", "0.5", "1e-320"];
        var text = Encoding.UTF8.GetString(json);
        var numbers = System.Text.RegularExpressions.Regex.Matches(text, @"-?\d+(\.\d+)?([eE][-+]?\d+)?").ToList();
        for (int k = rng.Next(1, 3); k > 0 && numbers.Count > 0; k--)
        {
            var m = numbers[rng.Next(numbers.Count)];
            text = text[..m.Index] + extremes[rng.Next(extremes.Length)] + text[(m.Index + m.Length)..];
            numbers = System.Text.RegularExpressions.Regex.Matches(text, @"-?\d+(\.\d+)?([eE][-+]?\d+)?").ToList();
        }
        return Encoding.UTF8.GetBytes(text);
    }

    [Fact]
    public void Metrics_jsonl()
    {
        var seed = Encoding.UTF8.GetBytes("""
            {"type":"epoch","epoch":0,"step":0,"test_loss":1.7,"lr":0,"seconds":0}
            {"type":"step","epoch":1,"step":1,"loss":1.69,"lr":0,"img_per_s":438.2}
            {"type":"step","epoch":1,"step":2,"loss":"NaN","lr":2.3E-05,"img_per_s":422.13}
            {"type":"epoch","epoch":1,"step":2,"train_loss":1.7,"test_loss":1.6,"lr":1e-4,"seconds":1.5}
            {"type":"interrupted","epoch":2,"step":2}
            [1,2,3]
            {"type":7,"step":{"a":1}}
            """);
        var run = new RunFolder(_tmp.Dir("run"));
        var artifacts = new RunArtifacts(NormalizationStats.FashionMnist, "fuzz");
        Fuzz("metrics", 5, (i, rng) => i % 10 == 0 ? RandomBytes(rng, 400) : Mutate(seed, rng), bytes =>
        {
            File.WriteAllBytes(run.Metrics, bytes);
            _ = MetricsLog.Read(run.Metrics);
            if (bytes.Length % 8 == 0) artifacts.WriteLossPlot(run);    // plotting is slow: an eighth of the inputs
            using (new MetricsLog(run.Metrics, keepUpToStep: 1)) { }    // the resume path rewrites the file
            foreach (var r in MetricsLog.Read(run.Metrics)) Assert.True(MetricsLog.Integer(r, "step") is <= 1);
        });
    }

    [Fact]
    public void Checkpoint_metadata_json()
    {
        var good = _tmp.File("good.ckpt");
        using (var model = new MaskedAutoencoder(Presets.Resolve(Cli.TinyModel)))
        using (var opt = new AdamW(ParamGroups.WeightDecaySplit(model, 0.05), 0.9, 0.95))
            Checkpoint.Save(good, model, opt, new TrainingState { Epoch = 1, StepInEpoch = 2, GlobalStep = 10, Seed = 3 },
                new PretrainOptions(), new RunArtifacts(NormalizationStats.FashionMnist, "fuzz").CheckpointMetadata);
        Dictionary<string, string> meta;
        List<(string Key, TorchSharp.torch.Tensor Value)> tensors;
        using (var content = Safetensors.Load(good))
        {
            meta = content.Metadata.ToDictionary();
            tensors = content.Tensors.Select(t => (t.Key, t.Value.clone())).ToList();
        }
        var keys = meta.Keys.Order().ToArray();
        var path = _tmp.File("fuzz.ckpt");
        Fuzz("checkpoint-metadata", 6, (i, rng) =>
        {
            // Mutate one metadata value (config, state, options, normalization, data, format); encode key index in byte 0.
            int k = rng.Next(keys.Length);
            var value = Encoding.UTF8.GetBytes(meta[keys[k]]);
            return [(byte)k, .. (i % 10) switch { 0 => RandomBytes(rng, 200), < 5 => ReplaceNumber(value, rng), _ => Mutate(value, rng) }];
        }, bytes =>
        {
            var mutated = new Dictionary<string, string>(meta) { [keys[bytes[0]]] = Encoding.UTF8.GetString(bytes, 1, bytes.Length - 1) };
            Safetensors.Save(path, tensors, mutated);
            using (var ckpt = Checkpoint.Load(path))
            using (ckpt.CreateModel())
            {
                _ = ckpt.State?.GlobalStep;
            }
            using var loaded = ModelSource.Load(path);
        }, MaxAllocation, path, typeof(InvalidDataException), typeof(ArgumentException));
        foreach (var (_, t) in tensors) t.Dispose();
    }
}
