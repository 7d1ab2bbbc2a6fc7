using System.Buffers.Binary;
using CrateMae.Data;
using CrateMae.Interop;
using CrateMae.Models;
using CrateMae.Tests.Data;
using CrateMae.Tests.Support;
using CrateMae.Training;
using SkiaSharp;
using static TorchSharp.torch;

namespace CrateMae.Tests.Reliability;

/// <summary>
/// Every bad input makes the real CLI fail with one line on stderr naming the problem, a non-zero exit code
/// and no stack trace (unless --verbose).
/// </summary>
[Collection(ReliabilityCollection.Name)]
public sealed class InputErrorTests : IDisposable
{
    private readonly TempDirectory _tmp = new();

    public void Dispose() => _tmp.Dispose();

    private string Out => _tmp.File("run");

    private static string Json(string fields) => "{" + fields + "}";

    // ---- datasets ------------------------------------------------------------------------------------------------

    [Fact]
    public void Missing_dataset_folder()
    {
        var missing = _tmp.File("nowhere");
        Cli.AssertOneLineError(Cli.Run(ReliabilityData.Pretrain("mnist:" + missing, Out)), 1, missing, "does not exist");
        Cli.AssertOneLineError(Cli.Run(ReliabilityData.Pretrain("cifar10:" + missing, Out)), 1, missing, "does not exist");
        Cli.AssertOneLineError(Cli.Run(ReliabilityData.Pretrain("folder:" + missing, Out)), 1, missing, "does not exist");
        Assert.False(Directory.Exists(Out), "a failed start must not create the run folder");
    }

    [Fact]
    public void Missing_idx_file()
    {
        var dir = ReliabilityData.Mnist(_tmp);
        File.Delete(Path.Combine(dir, "train-images-idx3-ubyte"));
        Cli.AssertOneLineError(Cli.Run(ReliabilityData.Pretrain("mnist:" + dir, Out)), 1, "train-images-idx3-ubyte", "exists");
    }

    [Fact]
    public void Dataset_path_is_a_file()
    {
        var file = _tmp.File("file.png");
        File.WriteAllBytes(file, [1, 2, 3]);
        Cli.AssertOneLineError(Cli.Run(ReliabilityData.Pretrain("folder:" + file, Out)), 1, file, "is a file, not a folder");
    }

    [Fact]
    public void Unknown_dataset_kind()
    {
        var line = Cli.AssertOneLineError(Cli.Run(ReliabilityData.Pretrain("imagenet22k", Out)), 2, "Unknown dataset kind 'imagenet22k'");
        Assert.DoesNotContain("(Parameter", line);
    }

    [Fact]
    public void Wrong_idx_magic()
    {
        var dir = ReliabilityData.Mnist(_tmp);
        var path = Path.Combine(dir, "train-images-idx3-ubyte");
        var bytes = File.ReadAllBytes(path);
        bytes[0] = 0x12;
        bytes[1] = 0x34;
        File.WriteAllBytes(path, bytes);
        Cli.AssertOneLineError(Cli.Run(ReliabilityData.Pretrain("mnist:" + dir, Out)), 1, path, "bad magic number");
    }

    [Fact]
    public void Wrong_idx_size()
    {
        var dir = ReliabilityData.Mnist(_tmp);
        var images = Path.Combine(dir, "train-images-idx3-ubyte");
        File.WriteAllBytes(images, File.ReadAllBytes(images)[..^100]);
        Cli.AssertOneLineError(Cli.Run(ReliabilityData.Pretrain("mnist:" + dir, Out)), 1, images, "truncated");

        ReliabilityData.Mnist(_tmp);    // rewrite, then give the labels a different count
        var labels = Path.Combine(dir, "train-labels-idx1-ubyte");
        IdxFile.Write(labels, IdxDataType.UInt8, [63], new byte[63]);
        Cli.AssertOneLineError(Cli.Run(ReliabilityData.Pretrain("mnist:" + dir, Out)), 1, "64 images", "63 labels");
    }

    [Fact]
    public void Idx_header_claiming_2_pow_40_elements_is_refused_without_allocating()
    {
        var dir = ReliabilityData.Mnist(_tmp);
        var path = Path.Combine(dir, "train-images-idx3-ubyte");
        var header = new byte[16];
        header[2] = 0x08;
        header[3] = 3;
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), 65536);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(8), 65536);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(12), 256);    // 2^40 bytes
        File.WriteAllBytes(path, [.. header, .. new byte[1000]]);
        long before = GC.GetTotalAllocatedBytes(precise: true);
        var r = Cli.Run(ReliabilityData.Pretrain("mnist:" + dir, Out));
        long allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        Cli.AssertOneLineError(r, 1, path, "refusing");
        Assert.True(allocated < 256L << 20, $"allocated {allocated >> 20} MiB");
    }

    [Fact]
    public void Truncated_cifar_batch()
    {
        var dir = _tmp.Dir("cifar-10-batches-bin");
        var pixels = TestFiles.Bytes(2 * 3072, 3);
        foreach (var name in new[] { "data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch" })
            TestFiles.WriteCifarBatch(Path.Combine(dir, name + ".bin"), [[1], [2]], pixels);
        var cut = Path.Combine(dir, "data_batch_3.bin");
        File.WriteAllBytes(cut, File.ReadAllBytes(cut)[..5000]);
        Cli.AssertOneLineError(Cli.Run(ReliabilityData.Pretrain("cifar10:" + dir, Out)), 1, cut, "5000 bytes", "truncated");

        TestFiles.WriteCifarBatch(cut, [[1], [200]], pixels);
        Cli.AssertOneLineError(Cli.Run(ReliabilityData.Pretrain("cifar10:" + dir, Out)), 1, cut, "label 200");
    }

    // ---- images --------------------------------------------------------------------------------------------------

    [Fact]
    public void Zero_byte_image()
    {
        var dir = ReliabilityData.ImageFolder(_tmp);
        var empty = Path.Combine(dir, "empty.png");
        File.WriteAllBytes(empty, []);
        Cli.AssertOneLineError(Cli.Run(ReliabilityData.Pretrain("folder:" + dir, Out)), 1, empty, "0 bytes", "--skip-bad-images");
    }

    [Fact]
    public void Undecodable_image()
    {
        var dir = ReliabilityData.ImageFolder(_tmp);
        var junk = Path.Combine(dir, "junk.jpg");
        File.WriteAllBytes(junk, TestFiles.Bytes(500, 9));
        Cli.AssertOneLineError(Cli.Run(ReliabilityData.Pretrain("folder:" + dir, Out)), 1, junk, "not a decodable", "--skip-bad-images");
    }

    [Fact]
    public void Unreadable_image_a_dangling_link()
    {
        // Root reads anything, so "unreadable" here is a link whose target is gone.
        var dir = ReliabilityData.ImageFolder(_tmp);
        var link = Path.Combine(dir, "gone.png");
        File.CreateSymbolicLink(link, _tmp.File("deleted-target.png"));
        Cli.AssertOneLineError(Cli.Run(ReliabilityData.Pretrain("folder:" + dir, Out)), 1, link, "cannot be read", "--skip-bad-images");
        var r = Cli.Run(ReliabilityData.Pretrain("folder:" + dir, Out, "--skip-bad-images"));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("skipped 1 unreadable image file(s)", r.Stdout);
    }

    [Fact]
    public void Enormous_image()
    {
        var dir = ReliabilityData.ImageFolder(_tmp);
        var huge = Path.Combine(dir, "huge.png");
        File.WriteAllBytes(huge, TestFiles.PngHeaderOnly(30_000, 30_000));
        Cli.AssertOneLineError(Cli.Run(ReliabilityData.Pretrain("folder:" + dir, Out)), 1, huge, "megapixels");
    }

    [Fact]
    public void Truncated_image_data()
    {
        var dir = ReliabilityData.ImageFolder(_tmp, n: 0);
        var path = Path.Combine(dir, "cut.png");
        TestFiles.WriteImage(path, TestFiles.RandomRgb(64, 64, 5), SKEncodedImageFormat.Png);
        File.WriteAllBytes(path, File.ReadAllBytes(path)[..3000]);
        for (int i = 0; i < 8; i++)
            TestFiles.WriteImage(Path.Combine(dir, $"ok{i}.png"), TestFiles.RandomRgb(20, 20, i), SKEncodedImageFormat.Png);
        Cli.AssertOneLineError(Cli.Run(ReliabilityData.Pretrain("folder:" + dir, Out)), 1, path, "truncated");
    }

    [Fact]
    public void Model_with_channels_images_cannot_have()
    {
        var dir = ReliabilityData.Mnist(_tmp);
        foreach (var chans in new[] { 2, 4 })
        {
            var model = Cli.TinyModel.Replace("\"in_chans\":1", $"\"in_chans\":{chans}");
            var args = ReliabilityData.Pretrain("mnist:" + dir, Out);
            args[Array.IndexOf(args, Cli.TinyModel)] = model;
            Cli.AssertOneLineError(Cli.Run(args), 2, $"{chans}-channel images", "only be converted to 1 (gray) or 3 (RGB)");
        }
    }

    [Fact]
    public void Single_image_for_a_model_errors_name_the_file()
    {
        var config = Presets.Resolve(Cli.TinyModel);
        var stats = NormalizationStats.FashionMnist;
        var missing = _tmp.File("missing.png");
        Assert.Contains(missing, Assert.Throws<FileNotFoundException>(() => DataSetup.LoadImage(missing, config, stats)).Message);
        var empty = _tmp.File("empty.png");
        File.WriteAllBytes(empty, []);
        Assert.Contains("0 bytes", Assert.Throws<InvalidDataException>(() => DataSetup.LoadImage(empty, config, stats)).Message);
        var junk = _tmp.File("junk.png");
        File.WriteAllBytes(junk, TestFiles.Bytes(100, 1));
        Assert.Contains(junk, Assert.Throws<InvalidDataException>(() => DataSetup.LoadImage(junk, config, stats)).Message);
        var huge = _tmp.File("huge.png");
        File.WriteAllBytes(huge, TestFiles.PngHeaderOnly(30_000, 30_000));
        Assert.Contains("megapixels", Assert.Throws<InvalidDataException>(() => DataSetup.LoadImage(huge, config, stats)).Message);

        // A 1×2000 strip would be scaled to 28×56000 before the crop: refused.
        var strip = _tmp.File("strip.png");
        TestFiles.WriteImage(strip, TestFiles.RandomRgb(1, 2000, 3), SKEncodedImageFormat.Png);
        var elongated = Assert.Throws<InvalidDataException>(() => DataSetup.LoadImage(strip, config, stats));
        Assert.Contains(strip, elongated.Message);
        Assert.Contains("more elongated than 256:1", elongated.Message);

        // A color, non-square image of another size is converted (gray, resized, cropped); 4 channels cannot be made.
        var rgb = _tmp.File("rgb.png");
        TestFiles.WriteImage(rgb, TestFiles.RandomRgb(50, 70, 2), SKEncodedImageFormat.Png);
        using (var x = DataSetup.LoadImage(rgb, config, stats))
            Assert.Equal(new long[] { 1, 1, 28, 28 }, x.shape);
        var e = Assert.Throws<ArgumentException>(() => DataSetup.LoadImage(rgb, config with { InChans = 4 }, NormalizationStats.ImageNet));
        Assert.Contains("only be converted to 1 (gray) or 3 (RGB)", e.Message);
        e = Assert.Throws<ArgumentException>(() => DataSetup.LoadImage(rgb, config, stats, imageSize: 30));
        Assert.Contains("patch size 7", e.Message);
    }

    // ---- models and configs --------------------------------------------------------------------------------------

    [Fact]
    public void Unknown_preset()
    {
        Cli.AssertOneLineError(Cli.Run("info", "--model", "crate-gigantic"), 2, "unknown model preset 'crate-gigantic'", "crate-base");
        Cli.AssertOneLineError(Cli.Run(ReliabilityData.Pretrain("fashion-mnist", Out)[..1].Concat(["--model", "crate-gigantic"]).ToArray()), 2,
            "unknown model preset 'crate-gigantic'");
    }

    [Theory]
    [InlineData("\"embed_dim\":36,\"num_heads\":8,\"decoder_embed_dim\":36,\"decoder_num_heads\":6", "embed_dim 36 is not divisible by num_heads 8")]
    [InlineData("\"img_size\":30,\"patch_size\":7", "img_size 30 is not divisible by patch_size 7")]
    [InlineData("\"embed_dim\":32,\"num_heads\":2,\"decoder_embed_dim\":64,\"decoder_num_heads\":2", "decoder_embed_dim (64) must equal embed_dim (32) under CRATE-MAE semantics")]
    [InlineData("\"in_chans\":0", "in_chans must be 1..4")]
    [InlineData("\"kind\":\"mamba\"", "not a valid model config")]
    [InlineData("\"embed_dims\":32", "embed_dims")]
    [InlineData("\"depth\":\"six\"", "not a valid model config")]
    public void Inconsistent_config(string fields, string expected)
    {
        Cli.AssertOneLineError(Cli.Run("info", "--model", Json(fields)), 2, expected);
        var file = _tmp.File("model.json");
        File.WriteAllText(file, Json(fields));
        Cli.AssertOneLineError(Cli.Run("info", "--model", file), 2, expected);
    }

    [Fact]
    public void Config_file_missing_or_not_json()
    {
        Cli.AssertOneLineError(Cli.Run("info", "--model", _tmp.File("nope.json")), 2, "nope.json", "does not exist");
        var file = _tmp.File("broken.json");
        File.WriteAllText(file, "{\"embed_dim\": 3");
        Cli.AssertOneLineError(Cli.Run("info", "--model", file), 2, file, "not a valid model config");
    }

    [Fact]
    public void Checkpoint_of_another_architecture()
    {
        var output = _tmp.File("out.safetensors");
        var line = Cli.AssertOneLineError(Cli.Run("convert", Fixtures.PathOf("crate-mini.pth"), output, "--model", Cli.TinyModel), 2,
            "crate-mini.pth", "mis-shaped keys", "different architecture", "more)");
        Assert.True(line.Length < 2000, $"the message should summarise, not list every key ({line.Length} chars)");
        Assert.False(File.Exists(output));
        Assert.Empty(Directory.GetFiles(_tmp.Path, ".*.tmp"));
    }

    [Fact]
    public void Checkpoint_with_missing_or_unexpected_keys()
    {
        using var model = new MaskedAutoencoder(Presets.Resolve(Cli.TinyModel));
        var weights = model.OrderedStateDict().Select(kv => (kv.Key, kv.Value.detach().clone())).ToList();
        var missingPath = _tmp.File("missing.safetensors");
        Safetensors.Save(missingPath, weights.Where(w => w.Key != "norm.weight"));
        Cli.AssertOneLineError(Cli.Run("convert", missingPath, _tmp.File("a.pth"), "--model", Cli.TinyModel), 2,
            missingPath, "missing keys (1): norm.weight");
        var extraPath = _tmp.File("extra.safetensors");
        Safetensors.Save(extraPath, weights.Append(("head.weight", zeros(3))));
        Cli.AssertOneLineError(Cli.Run("convert", extraPath, _tmp.File("b.pth"), "--model", Cli.TinyModel), 2,
            extraPath, "unexpected keys (1): head.weight");
        foreach (var (_, t) in weights) t.Dispose();
    }

    [Fact]
    public void Checkpoint_missing_or_not_a_checkpoint()
    {
        var missing = _tmp.File("missing.ckpt");
        Cli.AssertOneLineError(Cli.Run("convert", missing, _tmp.File("x.pth")), 1, missing, "no such file");
        var junk = _tmp.File("junk.ckpt");
        File.WriteAllBytes(junk, TestFiles.Bytes(3000, 4));
        Cli.AssertOneLineError(Cli.Run("convert", junk, _tmp.File("x.pth")), 1, junk);
        var junkPth = _tmp.File("junk.pth");
        File.WriteAllBytes(junkPth, TestFiles.Bytes(3000, 5));
        Cli.AssertOneLineError(Cli.Run("convert", junkPth, _tmp.File("x.pth"), "--model", Cli.TinyModel), 1, junkPth);
    }

    [Fact]
    public void Checkpoint_with_corrupt_normalisation_metadata()
    {
        using var model = new MaskedAutoencoder(Presets.Resolve(Cli.TinyModel));
        var path = _tmp.File("bad-norm.ckpt");
        Checkpoint.Save(path, model, null, null, null, new Dictionary<string, string> { ["normalization"] = "{\"mean\":[0.5],\"std\":[0]}" });
        Cli.AssertOneLineError(Cli.Run("convert", path, _tmp.File("x.safetensors")), 1, path, "stored normalization", "std must be finite and > 0");
    }

    [Fact]
    public void Resume_with_another_model_or_other_data()
    {
        var data = ReliabilityData.Mnist(_tmp);
        var ok = Cli.Run(ReliabilityData.Pretrain("mnist:" + data, Out, "--max-steps", "2"));
        Assert.True(ok.ExitCode == 0, ok.ToString());
        var other = Cli.TinyModel.Replace("\"depth\":1", "\"depth\":2");
        var args = ReliabilityData.Pretrain("mnist:" + data, Out, "--resume", Out);
        args[Array.IndexOf(args, Cli.TinyModel)] = other;
        Cli.AssertOneLineError(Cli.Run(args), 2, "--model", "differs from the run's model", Path.Combine(Out, "config.json"));

        Cli.AssertOneLineError(Cli.Run(ReliabilityData.Pretrain("mnist:" + data, Out)), 2, "already holds a run", "--resume");
        Cli.AssertOneLineError(Cli.Run(ReliabilityData.Pretrain("mnist:" + data, _tmp.File("fresh"), "--resume", _tmp.File("nothing"))), 1,
            "--resume", "no such checkpoint");
    }

    [Fact]
    public void Resume_without_output_continues_in_the_resumed_folder()
    {
        var data = "mnist:" + ReliabilityData.Mnist(_tmp);
        Assert.Equal(0, Cli.Run(ReliabilityData.Pretrain(data, Out, "--max-steps", "2")).ExitCode);
        var args = ReliabilityData.Pretrain(data, Out, "--resume", Out).ToList();
        args.RemoveRange(args.IndexOf("--output"), 2);
        var r = Cli.Run([.. args]);
        Assert.True(r.ExitCode == 0, r.ToString());
        using var ckpt = Checkpoint.Load(new RunFolder(Out).FinalCheckpoint);
        Assert.Equal(8, ckpt.State!.GlobalStep);
    }

    // ---- arguments -----------------------------------------------------------------------------------------------

    [Fact]
    public void Bad_arguments()
    {
        var data = "mnist:" + ReliabilityData.Mnist(_tmp);
        Cli.AssertOneLineError(Cli.Run(ReliabilityData.Pretrain(data, Out, "--limit", "0")), 2, "--limit");
        Cli.AssertOneLineError(Cli.Run(ReliabilityData.Pretrain(data, Out, "--mask-ratio", "1.5")), 2, "--mask-ratio");
        Cli.AssertOneLineError(Cli.Run(ReliabilityData.Pretrain(data, Out, "--batch-size", "1000")), 2, "fewer images than one batch");
        Cli.AssertOneLineError(Cli.Run("pretrain", "--epochs", "x"), 2, "'x'");
        Cli.AssertOneLineError(Cli.Run("frobnicate"), 2, "frobnicate");
        Cli.AssertOneLineError(Cli.Run("pretrain", "--no-such-option"), 2, "no-such-option");
    }

    [Fact]
    public void Verbose_adds_the_stack_trace()
    {
        var r = Cli.Run("info", "--model", "crate-gigantic", "--verbose");
        Assert.Equal(2, r.ExitCode);
        Assert.StartsWith("error: unknown model preset", r.ErrorLines[0]);
        Assert.Contains("   at ", r.Stderr);
    }

    // ---- NaN and Inf ---------------------------------------------------------------------------------------------

    [Fact]
    public void NaN_or_Inf_images_are_refused_by_the_model_naming_the_row()
    {
        using var model = new MaskedAutoencoder(Presets.Resolve(Cli.TinyModel));
        using var images = randn(4, 1, 28, 28);
        images[2, 0, 5, 5] = tensor(float.NaN);
        var e = Assert.Throws<ArgumentException>(() => model.Forward(images));
        Assert.Contains("NaN or Inf", e.Message);
        Assert.Contains("batch row 2", e.Message);
        images[2, 0, 5, 5] = tensor(0f);
        images[1, 0, 0, 0] = tensor(float.PositiveInfinity);
        e = Assert.Throws<ArgumentException>(() => model.ForwardFeatures(images));
        Assert.Contains("batch row 1", e.Message);
    }

    [Fact]
    public void NaN_after_transforms_is_reported_with_the_dataset_index_and_file()
    {
        var dir = ReliabilityData.ImageFolder(_tmp, n: 6);
        var ds = CrateMae.Data.ImageFolder.Open(dir);
        var eval = TransformPipeline.Eval(28, 1, NormalizationStats.FashionMnist);
        var poisoned = eval with { Steps = [.. eval.Steps, new PoisonSample(4)] };
        using var loader = new DataLoader(ds, poisoned, new DataLoaderOptions { BatchSize = 2 });
        var e = Assert.Throws<InvalidDataException>(() =>
        {
            foreach (var b in loader.Epoch(0)) b.Dispose();
        });
        Assert.Contains("sample 4", e.Message);
        Assert.Contains(ds.Files[4], e.Message);
        Assert.Contains("NaN or Inf", e.Message);
    }

    /// <summary>A transform that puts a NaN into the <c>index</c>-th image it sees (one worker, file order: sample <c>index</c>).</summary>
    private sealed class PoisonSample(int index) : IImageTransform
    {
        private int _seen = -1;

        public FloatImage Apply(FloatImage image, SampleRandom random)
        {
            // Eval order with one worker is 0, 1, 2, …: count calls to find the sample.
            if (Interlocked.Increment(ref _seen) != index) return image;
            var data = (float[])image.Data.Clone();
            data[7] = float.NaN;
            return new FloatImage(image.Channels, image.Height, image.Width, data);
        }
    }
}
