using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace CrateMae.Models;

/// <summary>
/// Finds an op that TorchSharp does not bind by its mangled C++ name in the loaded <c>libtorch_cpu.so</c>, for a direct
/// call with the x86-64 System V ABI (<see cref="InPlaceBaddbmm"/>, <c>FusedAdamWKernel</c>).
/// </summary>
internal static class LibtorchExport
{
    /// <summary>The symbol's address, or <see cref="IntPtr.Zero"/> off Linux x64 or where this libtorch lacks it.</summary>
    public static IntPtr Find(string mangledName)
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64) return IntPtr.Zero;
        _ = zeros(1);    // make sure TorchSharp (and with it libtorch_cpu) is loaded
        return NativeLibrary.TryLoad("libtorch_cpu.so", typeof(TorchSharp.torch).Assembly, null, out var lib)
               && NativeLibrary.TryGetExport(lib, mangledName, out var fn)
            ? fn
            : IntPtr.Zero;
    }
}
