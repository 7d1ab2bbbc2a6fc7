namespace CrateMae.Evaluation;

/// <summary>The evaluation code's name for <see cref="CrateMae.AtomicFile"/> (one implementation: temp file, flush, rename; clear errors).</summary>
internal static class AtomicFile
{
    public static void Write(string path, Action<Stream> write) => CrateMae.AtomicFile.Write(path, fs => write(fs));

    public static void WriteAllText(string path, string text) => CrateMae.AtomicFile.WriteAllText(path, text);

    public static void WriteAllBytes(string path, byte[] bytes) => CrateMae.AtomicFile.WriteAllBytes(path, bytes);
}
