using System.Runtime.CompilerServices;
using CrateMae.Training;

namespace CrateMae.Bench;

/// <summary>Runs as this assembly loads, before any torch call: the same OpenMP policy as the <c>crate-mae</c> CLI.</summary>
internal static class ProcessStart
{
    [ModuleInitializer]
    internal static void ConfigureNativeRuntime() => ProcessSetup.ConfigureOpenMp(typeof(ProcessStart).Assembly);
}
