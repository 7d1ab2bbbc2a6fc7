namespace CrateMae.Tests.Data;

/// <summary>A temporary folder removed on dispose (kept when CRATEMAE_KEEP_TEST_OUTPUT is set, for looking at outputs).</summary>
internal sealed class TempDirectory : IDisposable
{
    public TempDirectory()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "cratemae-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(params string[] parts) => System.IO.Path.Combine([Path, .. parts]);

    public string Dir(params string[] parts)
    {
        var d = System.IO.Path.Combine([Path, .. parts]);
        Directory.CreateDirectory(d);
        return d;
    }

    public void Dispose()
    {
        if (Environment.GetEnvironmentVariable("CRATEMAE_KEEP_TEST_OUTPUT") is { Length: > 0 }) return;
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
