namespace CrateMae.IO;

/// <summary>
/// Writes files atomically: a fresh temporary file in the target's folder, flushed to disk, then renamed over the
/// target. On any failure (disk full, read-only folder, a crash) the previous file is untouched and the temporary
/// file is removed (or, after a SIGKILL, left as a hidden <c>.NAME.*.tmp</c> that nothing reads).
/// </summary>
public static class AtomicFile
{
    public static void Write(string path, Action<FileStream> write)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full) ?? throw new ArgumentException($"{path}: no parent folder.", nameof(path));
        try
        {
            Directory.CreateDirectory(dir);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"could not write {full}: cannot create its folder {dir} ({Reason(e, dir)}); nothing was written", e);
        }
        var temp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid().ToString("N")[..12]}.tmp");
        try
        {
            using (var fs = new FileStream(temp, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16))
            {
                write(fs);
                fs.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch (Exception e)
        {
            try { File.Delete(temp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            if (e is IOException or UnauthorizedAccessException)
            {
                // Name the target, not the temporary file, and say what became of the old one (disk full, read-only folder, …).
                throw new IOException($"could not write {full} ({Reason(e, temp)}); " +
                                      (File.Exists(full) ? "the previous version of the file is unchanged" : "nothing was written"), e);
            }
            throw;
        }
    }

    private static string Reason(Exception e, string temp)
    {
        var m = e.Message.Replace(temp, "").Replace(" : ''", "").Replace("''", "").Trim().TrimEnd('.').Trim();
        return m.Length > 0 ? m : e.GetType().Name;
    }

    /// <summary>The id of the process that created temporary file <paramref name="tempPath"/> (<c>.NAME.PID.ID.tmp</c>), if the name has one.</summary>
    public static int? OwnerProcessId(string tempPath)
    {
        var parts = Path.GetFileName(tempPath).Split('.');
        // "", NAME parts…, PID, ID, "tmp"
        return parts.Length >= 5 && parts[^1] == "tmp" && int.TryParse(parts[^3], out var pid) ? pid : null;
    }

    /// <summary>Copies <paramref name="source"/> to <paramref name="destination"/> atomically (the destination is either the old file or a full copy).</summary>
    public static void Copy(string source, string destination) =>
        Write(destination, fs =>
        {
            using var src = new FileStream(source, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
            src.CopyTo(fs);
        });

    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        var copy = bytes.ToArray();
        Write(path, fs => fs.Write(copy));
    }

    public static void WriteAllText(string path, string text) =>
        Write(path, fs =>
        {
            using var w = new StreamWriter(fs, new System.Text.UTF8Encoding(false), 1 << 16, leaveOpen: true);
            w.Write(text);
        });
}
