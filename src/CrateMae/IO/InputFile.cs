using System.Runtime.InteropServices;

namespace CrateMae.IO;

/// <summary>
/// Opens files that the user names (data, images, checkpoints, configs, run files) only when they are regular files.
/// A FIFO given where a file is expected would block the reader until some writer appears (for ever, in practice);
/// a socket or a device never ends or fails late; a directory is not a file. Each is refused at once in one line
/// naming the path and what it is.
/// </summary>
/// <remarks>
/// .NET reports a FIFO, a socket and a device as an existing "Normal" file, so the type is read with Linux's
/// <c>statx</c>, whose <c>struct statx</c> has the same layout on every architecture (the file type is in the top bits
/// of <c>stx_mode</c>, offset 28). Elsewhere (macOS, Windows) only the existence and directory checks apply.
/// </remarks>
public static unsafe class InputFile
{
    /// <summary>Throws unless <paramref name="path"/> is an existing regular file (symbolic links followed).</summary>
    /// <param name="what">What the file is for, as the message should name it (e.g. "IDX file", "checkpoint").</param>
    /// <exception cref="FileNotFoundException">The path does not exist.</exception>
    /// <exception cref="InvalidDataException">The path is a directory, FIFO, socket or device.</exception>
    public static void RequireRegular(string path, string what)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (Directory.Exists(path)) throw new InvalidDataException($"{what} '{path}' is a directory, not a file.");
        if (!File.Exists(path)) throw new FileNotFoundException($"{what} '{path}' does not exist.", path);
        if (TypeOf(path) is { } kind && kind != FileKind.Regular)
            throw new InvalidDataException($"{what} '{path}' is a {Describe(kind)}, not a regular file.");
    }

    /// <summary>Opens a regular file for reading (see <see cref="RequireRegular"/>).</summary>
    public static FileStream OpenRead(string path, string what, int bufferSize = 1 << 16)
    {
        RequireRegular(path, what);
        return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize);
    }

    /// <summary>The whole text of a regular file (see <see cref="RequireRegular"/>).</summary>
    public static string ReadAllText(string path, string what)
    {
        RequireRegular(path, what);
        return File.ReadAllText(path);
    }

    /// <summary>The type of the file at <paramref name="path"/>, or null where it cannot be read here (not Linux, statx failed).</summary>
    internal static FileKind? TypeOf(string path)
    {
        if (!OperatingSystem.IsLinux()) return null;
        byte* buffer = stackalloc byte[StatxSize];
        try
        {
            if (Statx(AtFdCwd, path, 0, StatxType, buffer) != 0) return null;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return null;   // a libc without statx (glibc < 2.28, musl < 1.2.5): the type is not checked
        }
        return (FileKind)(*(ushort*)(buffer + ModeOffset) & TypeMask);
    }

    private static string Describe(FileKind kind) => kind switch
    {
        FileKind.Fifo => "FIFO (named pipe)",
        FileKind.Socket => "socket",
        FileKind.CharacterDevice => "character device",
        FileKind.BlockDevice => "block device",
        FileKind.Directory => "directory",
        FileKind.SymbolicLink => "symbolic link",
        _ => $"special file (mode 0x{(int)kind:x})",
    };

    /// <summary>The file-type bits of <c>st_mode</c> (<c>S_IFMT</c> values).</summary>
    internal enum FileKind
    {
        Fifo = 0x1000,
        CharacterDevice = 0x2000,
        Directory = 0x4000,
        BlockDevice = 0x6000,
        Regular = 0x8000,
        SymbolicLink = 0xA000,
        Socket = 0xC000,
    }

    private const int AtFdCwd = -100;
    private const uint StatxType = 0x1;    // STATX_TYPE: only stx_mode's type bits are needed
    private const int StatxSize = 256;     // sizeof(struct statx)
    private const int ModeOffset = 28;     // offsetof(struct statx, stx_mode)
    private const int TypeMask = 0xF000;   // S_IFMT

    [DllImport("libc", EntryPoint = "statx", SetLastError = true)]
    private static extern int Statx(int dirfd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, uint mask, byte* buffer);
}
