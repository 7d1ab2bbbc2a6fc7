using System.Text.Json;
using CrateMae.Interop;
using CrateMae.Tests.Support;
using CrateMae.Training;

namespace CrateMae.Tests.Cli;

public sealed class CliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cratemae-cli-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public void Given_crate_base_and_its_baseline_When_info_as_json_Then_44_6M_parameters_and_31_percent()
    {
        var r = CliRunner.Run("info", "--model", "crate-base", "--baseline", "mae-vit-base", "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        using var doc = JsonDocument.Parse(r.Stdout);
        Assert.Equal(44_638_464, doc.RootElement.GetProperty("total").GetInt64());
        Assert.Equal(44_335_872, doc.RootElement.GetProperty("trainable").GetInt64());
        Assert.Equal(21_872_640, doc.RootElement.GetProperty("encoder_trainable").GetInt64());
        Assert.Equal(0.310, doc.RootElement.GetProperty("ratio").GetDouble(), 3);
    }

    [Fact]
    public void Given_layer_zero_When_linprobe_Then_the_error_names_the_option()
    {
        var r = CliRunner.Run("linprobe", "--checkpoint", _dir, "--layer", "0");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("--layer 0: expected an encoder block number ≥ 1", r.Stdout + r.Stderr);
    }

    [Fact]
    public void Given_an_unknown_precision_When_knn_Then_the_error_names_the_option_and_the_choices()
    {
        var r = CliRunner.Run("knn", "--checkpoint", _dir, "--precision", "fp16");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("--precision fp16: expected fp32, bf16 or auto", r.Stdout + r.Stderr);
    }

    [Fact]
    public void Given_an_unknown_preset_When_info_Then_one_line_error_without_stack_trace()
    {
        var r = CliRunner.Run("info", "--model", "crate-gigantic");
        Assert.NotEqual(0, r.ExitCode);
        var lines = r.Stderr.Trim().Split('\n');
        Assert.Single(lines);
        Assert.Contains("unknown model preset 'crate-gigantic'", lines[0]);
        Assert.DoesNotContain("   at ", r.Stderr);
        var verbose = CliRunner.Run("info", "--model", "crate-gigantic", "--verbose");
        Assert.Contains("   at ", verbose.Stderr);
    }

    [Fact]
    public void Given_an_official_pth_When_converted_through_safetensors_and_ckpt_and_back_Then_every_tensor_is_bit_identical()
    {
        var c = Fixtures.Case("crate-mini");
        var config = c.Config.ToJson();
        var st = Path.Combine(_dir, "m.safetensors");
        var ckpt = Path.Combine(_dir, "m.ckpt");
        var pth = Path.Combine(_dir, "m.pth");
        Assert.Equal(0, CliRunner.Run("convert", c.StateDictPath, st, "--model", config).ExitCode);
        Assert.Equal(0, CliRunner.Run("convert", st, ckpt).ExitCode);              // config travels in the safetensors metadata
        var back = CliRunner.Run("convert", ckpt, pth);
        Assert.True(back.ExitCode == 0, back.Stderr);

        using var original = StateDictFile.Load(c.StateDictPath);
        using var roundTrip = StateDictFile.Load(pth);
        Assert.Equal(original.Tensors.Select(t => t.Key), roundTrip.Tensors.Select(t => t.Key));
        foreach (var ((k, a), (_, b)) in original.Tensors.Zip(roundTrip.Tensors))
            Assert.True(a.eq(b).all().item<bool>(), k);
    }

    [Fact]
    public void Given_foreign_weights_without_a_config_When_converted_Then_the_error_asks_for_model()
    {
        var r = CliRunner.Run("convert", Fixtures.Case("crate-mini").StateDictPath, Path.Combine(_dir, "x.safetensors"));
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("--model", r.Stderr);
        Assert.False(File.Exists(Path.Combine(_dir, "x.safetensors")));
    }

    [Fact]
    public void Given_weights_of_another_architecture_When_loaded_Then_missing_and_mis_shaped_keys_are_listed()
    {
        var path = Fixtures.Case("vit-mini").StateDictPath;
        var e = Assert.ThrowsAny<ArgumentException>(() => ModelSource.Load(path, Fixtures.Case("crate-mini").Config.ToJson()));
        Assert.Contains(path, e.Message);
        Assert.Contains("missing", e.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("unexpected", e.Message, StringComparison.OrdinalIgnoreCase);
    }
}
