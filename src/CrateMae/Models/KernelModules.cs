using CrateMae.Kernels;
using static TorchSharp.torch;

namespace CrateMae.Models;

/// <summary>A module whose forward runs the fast kernels or the plain reference ops as its <see cref="KernelOptions"/> say.</summary>
public interface IKernelModule
{
    /// <summary>The module's kernel options (default <see cref="KernelOptions.Default"/>).</summary>
    KernelOptions Kernels { get; set; }
}

/// <summary>Hands one <see cref="KernelOptions"/> to a module and all of its submodules.</summary>
public static class KernelModules
{
    /// <summary>Sets <paramref name="options"/> on <paramref name="module"/> and on every submodule that takes them.</summary>
    public static void UseKernels(this nn.Module module, KernelOptions options)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(options);
        if (module is IKernelModule self) self.Kernels = options;
        foreach (var (_, child) in module.named_modules())
            if (!ReferenceEquals(child, module) && child is IKernelModule k) k.Kernels = options;
    }
}
