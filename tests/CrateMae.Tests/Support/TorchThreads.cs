using System.Runtime.CompilerServices;

namespace CrateMae.Tests.Support;

/// <summary>Tests run in parallel collections on 2 cores: one libtorch thread each avoids oversubscription (platform P3).</summary>
internal static class TorchThreads
{
    [ModuleInitializer]
    internal static void SingleThreaded() => TorchSharp.torch.set_num_threads(1);
}
