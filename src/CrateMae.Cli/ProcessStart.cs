using System.Runtime.CompilerServices;
using CrateMae.Training;

namespace CrateMae.Cli;

/// <summary>Runs as this assembly loads, before any torch call (libgomp reads its settings when it is loaded).</summary>
internal static class ProcessStart
{
    [ModuleInitializer]
    internal static void ConfigureNativeRuntime() => ProcessSetup.ConfigureOpenMp(typeof(ProcessStart).Assembly);
}
