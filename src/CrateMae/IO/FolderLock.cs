using System.Globalization;

namespace CrateMae.IO;

/// <summary>
/// The exclusive right to write into a folder (a run folder): one writer at a time, the second refused at once.
/// </summary>
/// <remarks>
/// The lock is the file <c>.lock</c> in the folder, held open with <see cref="FileShare.None"/>, which .NET takes as an
/// advisory <c>flock(LOCK_EX | LOCK_NB)</c> on Linux and macOS and as a share mode on Windows. The operating system
/// drops it when the holder ends, however it ends (SIGKILL and power loss included), so a lock never outlives its
/// process and there is nothing stale to clean. The holder also writes its process id, command and start time to
/// <c>.lock-owner</c> (atomically), so that a refused writer can name who holds the folder; that file is only ever
/// informational. (.NET skips the lock when <c>DOTNET_SYSTEM_IO_DISABLEFILELOCKING</c> is set; then nothing is refused.)
/// </remarks>
public sealed class FolderLock : IDisposable
{
    public const string LockFileName = ".lock";
    public const string OwnerFileName = ".lock-owner";

    /// <summary>
    /// The HResult of an open refused by another holder's lock: ERROR_SHARING_VIOLATION on Windows; on Unix .NET passes
    /// flock's errno, EWOULDBLOCK (11 on Linux, 35 on macOS). Any other failure (a read-only file system, say) is
    /// reported as it is.
    /// </summary>
    private const int SharingViolation = unchecked((int)0x80070020), LinuxWouldBlock = 11, MacWouldBlock = 35;

    private readonly FileStream _lock;

    private FolderLock(string folder, FileStream lockFile)
    {
        Folder = folder;
        _lock = lockFile;
    }

    /// <summary>The locked folder (full path).</summary>
    public string Folder { get; }

    /// <summary>
    /// Creates <paramref name="folder"/> if needed and locks it for this process, or throws <see cref="IOException"/>
    /// with one line naming the folder and the process that holds it.
    /// </summary>
    /// <param name="purpose">What this process does there (shown to a refused writer), e.g. "crate-mae pretrain".</param>
    public static FolderLock Acquire(string folder, string purpose)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        var full = Path.GetFullPath(folder);
        try
        {
            Directory.CreateDirectory(full);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"cannot create the folder {full} ({e.Message.Split(" : '")[0].TrimEnd('.')})", e);
        }
        var lockPath = Path.Combine(full, LockFileName);
        FileStream stream;
        try
        {
            stream = new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1);
        }
        catch (IOException e) when (e.HResult is SharingViolation or LinuxWouldBlock or MacWouldBlock)
        {
            throw new IOException($"{full} is in use by {Owner(full)}; wait for it to finish, or write to another folder", e);
        }
        var held = new FolderLock(full, stream);
        try
        {
            WriteOwner(full, purpose);
        }
        catch
        {
            held.Dispose();
            throw;
        }
        return held;
    }

    /// <summary>Who holds <paramref name="folder"/>, as its <c>.lock-owner</c> says ("another process" when unreadable).</summary>
    public static string Owner(string folder)
    {
        try
        {
            var text = File.ReadAllText(Path.Combine(folder, OwnerFileName)).Trim();
            return text.Length > 0 ? text : "another process";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "another process";
        }
    }

    private static void WriteOwner(string folder, string purpose)
    {
        var since = DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);
        AtomicFile.WriteAllText(Path.Combine(folder, OwnerFileName), $"process {Environment.ProcessId} ({purpose}, since {since} UTC)\n");
    }

    /// <summary>Releases the folder (the owner file stays; the next holder overwrites it).</summary>
    public void Dispose() => _lock.Dispose();
}
