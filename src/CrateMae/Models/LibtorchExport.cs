using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace CrateMae.Models;

/// <summary>
/// Finds an op that TorchSharp does not bind by its mangled C++ name in the loaded <c>libtorch_cpu.so</c>, for a direct
/// call with the x86-64 System V ABI (<c>FusedAdamWKernel</c>). Such a call depends on the op's C++ signature and on
/// the layout of its argument types, which libtorch may change in any release, and a mismatch would corrupt memory
/// rather than fail. So the address is handed out only for the libtorch release the call was written for
/// (<see cref="Release"/>); for any other the caller runs its fallback.
/// </summary>
internal static class LibtorchExport
{
    /// <summary>The libtorch release (major.minor) whose signatures the direct calls match.</summary>
    public const string Release = "2.10";

    /// <summary>
    /// The version of the libtorch in this process: TorchSharp's <c>torch.__version__</c>, the libtorch package that
    /// TorchSharp is built against and loads (<c>2.10.0.0</c> for TorchSharp 0.107; its native library would not load
    /// with another).
    /// </summary>
    public static string LoadedVersion => __version__;

    /// <summary>Whether <paramref name="version"/> (<c>2.10</c>, <c>2.10.0</c>, <c>2.10.0.0</c>, …) belongs to <see cref="Release"/>.</summary>
    public static bool Supports(string? version) =>
        version is not null && (version == Release || version.StartsWith(Release + ".", StringComparison.Ordinal));

    /// <summary>
    /// The symbol's address, or <see cref="IntPtr.Zero"/> where it must not be called: off Linux x64, when
    /// <paramref name="libtorchVersion"/> (normally <see cref="LoadedVersion"/>) is not of <see cref="Release"/>, or
    /// where this libtorch lacks the symbol.
    /// </summary>
    public static IntPtr Find(string mangledName, string? libtorchVersion)
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64) return IntPtr.Zero;
        if (!Supports(libtorchVersion)) return IntPtr.Zero;
        _ = zeros(1);    // make sure TorchSharp (and with it libtorch_cpu) is loaded
        return NativeLibrary.TryLoad("libtorch_cpu.so", typeof(TorchSharp.torch).Assembly, null, out var lib)
               && NativeLibrary.TryGetExport(lib, mangledName, out var fn)
            ? fn
            : IntPtr.Zero;
    }
}
