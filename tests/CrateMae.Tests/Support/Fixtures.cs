using System.Text.Json;
using CrateMae.Interop;
using CrateMae.Models;

namespace CrateMae.Tests.Support;

/// <summary>
/// The golden fixtures of the official implementation: folder from <c>CRATE_MAE_FIXTURES</c>, else the repository's own
/// copy in <c>tests/fixtures</c>. A missing folder or case file fails the tests (never skips).
/// </summary>
public static class Fixtures
{
    public static string Root
    {
        get
        {
            var env = Environment.GetEnvironmentVariable("CRATE_MAE_FIXTURES");
            var dir = !string.IsNullOrEmpty(env) ? env : Path.Combine(RepoRoot, "tests", "fixtures");
            if (!File.Exists(Path.Combine(dir, "cases.json")))
                throw new FileNotFoundException($"golden fixtures not found: {Path.GetFullPath(dir)}/cases.json (set CRATE_MAE_FIXTURES)");
            return Path.GetFullPath(dir);
        }
    }

    public static string RepoRoot
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "CrateMae.slnx"))) dir = dir.Parent;
            return dir?.FullName ?? throw new DirectoryNotFoundException("repository root (CrateMae.slnx) not found above " + AppContext.BaseDirectory);
        }
    }

    public static string PathOf(string file)
    {
        var p = Path.Combine(Root, file);
        if (!File.Exists(p)) throw new FileNotFoundException($"fixture file missing: {p}");
        return p;
    }

    /// <summary>Every case listed in cases.json (new cases are picked up automatically).</summary>
    public static IReadOnlyList<FixtureCase> Cases()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Root, "cases.json")));
        return doc.RootElement.EnumerateObject().Select(p => FixtureCase.FromJson(p.Name, p.Value)).ToList();
    }

    /// <summary>xunit member data: one row per case name.</summary>
    public static TheoryData<string> CaseNames()
    {
        var data = new TheoryData<string>();
        foreach (var c in Cases()) data.Add(c.Name);
        return data;
    }

    public static FixtureCase Case(string name) => Cases().Single(c => c.Name == name);
}

/// <summary>One fixture case of cases.json.</summary>
public sealed record FixtureCase(string Name, MaeConfig Config, double Ratio, long ParamsTotal, long ParamsTrainable, double Loss)
{
    public string StateDictPath => Fixtures.PathOf(Name + ".pth");
    public string IoPath => Fixtures.PathOf(Name + ".io.pth");

    /// <summary>A model of this case's config with the official weights loaded (strict).</summary>
    public MaskedAutoencoder LoadModel()
    {
        var model = new MaskedAutoencoder(Config);
        using var weights = StateDictFile.Load(StateDictPath);
        StateDictLoader.LoadInto(model, weights.Tensors, StateDictPath);
        return model;
    }

    public static FixtureCase FromJson(string name, JsonElement f)
    {
        var kind = f.GetProperty("kind").GetString() switch
        {
            "crate" => BlockKind.Crate,
            "vit" => BlockKind.Vit,
            var k => throw new InvalidDataException($"cases.json: case '{name}' has unknown kind '{k}'"),
        };
        int dim = f.GetProperty("dim").GetInt32();
        var config = new MaeConfig
        {
            Name = name, Kind = kind, ImgSize = f.GetProperty("img").GetInt32(), PatchSize = f.GetProperty("patch").GetInt32(),
            InChans = f.TryGetProperty("chans", out var ch) ? ch.GetInt32() : 3,
            EmbedDim = dim, Depth = f.GetProperty("depth").GetInt32(), NumHeads = f.GetProperty("heads").GetInt32(),
            DecoderEmbedDim = dim, DecoderDepth = f.GetProperty("ddepth").GetInt32(), DecoderNumHeads = f.GetProperty("dheads").GetInt32(),
            Lambd = f.GetProperty("lambd").GetDouble(), NormPixLoss = f.GetProperty("normpix").GetBoolean(),
        };
        return new FixtureCase(name, config, f.GetProperty("ratio").GetDouble(), f.GetProperty("params_total").GetInt64(),
            f.GetProperty("params_trainable").GetInt64(), f.GetProperty("loss").GetDouble());
    }
}
