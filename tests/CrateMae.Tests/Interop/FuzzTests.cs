using System.IO.Compression;
using CrateMae.Interop;
using TorchSharp;
using static CrateMae.Tests.Interop.InteropTestSupport;

namespace CrateMae.Tests.Interop;

/// <summary>Deterministic mutation fuzzing: corrupt inputs either load or fail with <see cref="InvalidDataException"/>.</summary>
[Collection(InteropCollection.Name)]
public sealed class FuzzTests
{
    /// <summary>Iterations per fuzz test; $CRATE_MAE_FUZZ_ITERATIONS overrides the default 400 for longer local runs.</summary>
    private static readonly int Iterations =
        int.TryParse(Environment.GetEnvironmentVariable("CRATE_MAE_FUZZ_ITERATIONS"), out var n) && n > 0 ? n : 400;

    private static readonly int Seed =
        int.TryParse(Environment.GetEnvironmentVariable("CRATE_MAE_FUZZ_SEED"), out var s) ? s : 20240601;

    private static byte[] Mutate(byte[] data, Random rng)
    {
        var m = (byte[])data.Clone();
        int edits = rng.Next(1, 4);
        for (int i = 0; i < edits; i++)
        {
            switch (rng.Next(3))
            {
                case 0: m[rng.Next(m.Length)] = (byte)rng.Next(256); break;
                case 1: m[rng.Next(m.Length)] ^= (byte)(1 << rng.Next(8)); break;
                default: m = m[..rng.Next(1, m.Length)]; break;
            }
        }
        return m;
    }

    [Fact]
    public void Given_mutated_pickles_When_loaded_Then_only_invalid_data_errors()
    {
        using var tmp = NewTempFolder();
        byte[] pickle, storage;
        using (var zip = ZipFile.OpenRead(Fixture("tensor-views.pth")))
        {
            pickle = ReadAll(zip.GetEntry("tensor-views/data.pkl")!);
            storage = ReadAll(zip.GetEntry("tensor-views/data/0")!);
        }
        var rng = new Random(Seed);
        var path = tmp.File("fuzz.pth");
        int loaded = 0, refused = 0;
        for (int i = 0; i < Iterations; i++)
        {
            WriteZip(path, ("f/data.pkl", Mutate(pickle, rng)), ("f/data/0", storage), ("f/version", "3\n"u8.ToArray()));
            using var scope = torch.NewDisposeScope();
            try { _ = PyTorchFile.Load(path); loaded++; }
            catch (InvalidDataException) { refused++; }
        }
        Assert.True(refused > 0);
        Assert.Equal(Iterations, loaded + refused);
    }

    [Fact]
    public void Given_mutated_pth_archives_When_loaded_Then_only_invalid_data_errors()
    {
        using var tmp = NewTempFolder();
        var bytes = File.ReadAllBytes(Fixture("tensor-views.pth"));
        var rng = new Random(Seed + 3);
        var path = tmp.File("fuzz-zip.pth");
        for (int i = 0; i < Iterations; i++)
        {
            File.WriteAllBytes(path, Mutate(bytes, rng));
            using var scope = torch.NewDisposeScope();
            try { _ = PyTorchFile.Load(path); }
            catch (InvalidDataException) { }
        }
    }

    [Fact]
    public void Given_mutated_safetensors_When_loaded_Then_only_invalid_data_errors()
    {
        using var tmp = NewTempFolder();
        var good = tmp.File("good.safetensors");
        using (var scope = torch.NewDisposeScope()) Safetensors.Save(good, AllDtypeTensors(), new Dictionary<string, string> { ["k"] = "v" });
        var bytes = File.ReadAllBytes(good);
        var rng = new Random(Seed + 7);
        var path = tmp.File("fuzz.safetensors");
        for (int i = 0; i < Iterations; i++)
        {
            // aim most mutations at the 8-byte length and the JSON header
            var m = (byte[])bytes.Clone();
            int headerEnd = 8 + (int)BitConverter.ToInt64(bytes, 0);
            m[rng.Next(headerEnd)] = (byte)rng.Next(256);
            if (rng.Next(4) == 0) m = Mutate(m, rng);
            File.WriteAllBytes(path, m);
            try
            {
                using var st = Safetensors.Load(path);
            }
            catch (InvalidDataException) { }
        }
    }

    private static byte[] ReadAll(ZipArchiveEntry e)
    {
        using var s = e.Open();
        var b = new byte[e.Length];
        s.ReadExactly(b);
        return b;
    }
}
