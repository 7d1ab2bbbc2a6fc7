using System.Text.Json;
using CrateMae.Tests.Support;
using Xunit.Abstractions;
using static CrateMae.Tests.Interop.InteropTestSupport;

namespace CrateMae.Tests.Training;

/// <summary>
/// The speed baseline of issue 6, <c>bench/official/crate_mae_official.py</c>, is the official CRATE-MAE computation in
/// PyTorch: checked here against the golden fixtures the official code produced, so the "× official" figures compare
/// against the real thing. Needs /usr/bin/python3 with torch (installed by scripts/setup.sh); without it the tests
/// return early and say so.
/// </summary>
[Collection(Interop.InteropCollection.Name)]
public sealed class OfficialBaselineTests(ITestOutputHelper output)
{
    private static string Script => File.ReadAllText(Path.Combine(Fixtures.RepoRoot, "bench", "official", "crate_mae_official.py"));

    private bool TorchMissing()
    {
        if (TorchUnavailableReason is not { } why) return false;
        output.WriteLine($"NOT RUN (early return): {why}. Install python3-torch to run this check.");
        return true;
    }

    [Fact]
    public void Given_the_baseline_script_When_checked_against_every_crate_fixture_Then_loss_pred_and_latent_match()
    {
        if (TorchMissing()) return;
        var stdout = RunPythonChecked(Script, "--check", Fixtures.Root);
        output.WriteLine(stdout);
        var crateCases = Fixtures.Cases().Where(c => c.Config.Kind == CrateMae.Models.BlockKind.Crate).Select(c => c.Name).ToList();
        Assert.NotEmpty(crateCases);
        foreach (var name in crateCases) Assert.Contains($"{name}: loss, pred and latent equal the official fixtures", stdout);
    }

    [Fact]
    public void Given_a_tiny_config_When_the_baseline_benchmarks_Then_it_reports_train_and_embed_throughput()
    {
        if (TorchMissing()) return;
        const string config = """{"name":"t","kind":"crate","img_size":16,"patch_size":4,"in_chans":3,"embed_dim":32,"depth":1,"num_heads":2,"decoder_embed_dim":32,"decoder_depth":1,"decoder_num_heads":2}""";
        var stdout = RunPythonChecked(Script, "--config", config, "--batch", "2", "--steps", "2", "--warmup", "1", "--threads", "1");
        using var doc = JsonDocument.Parse(stdout);
        var root = doc.RootElement;
        Assert.Equal("crate-mae/official-baseline/1", root.GetProperty("schema").GetString());
        foreach (var phase in new[] { "train", "embed" })
        {
            var p = root.GetProperty(phase);
            Assert.Equal(2, p.GetProperty("step_seconds").GetArrayLength());
            Assert.True(p.GetProperty("median_img_per_s").GetDouble() > 0);
        }
    }

    [Fact]
    public void Given_a_vit_config_When_the_baseline_is_asked_Then_it_refuses_naming_the_option()
    {
        if (TorchMissing()) return;
        var (code, _, err) = RunPython(Script, ["--config", """{"kind":"vit","img_size":16,"patch_size":4,"in_chans":3,"embed_dim":32,"depth":1,"num_heads":2,"decoder_embed_dim":32,"decoder_depth":1,"decoder_num_heads":2}"""]);
        Assert.NotEqual(0, code);
        Assert.Contains("--config: the baseline implements CRATE blocks", err);
    }
}
