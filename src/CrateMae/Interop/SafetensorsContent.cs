using static TorchSharp.torch;

namespace CrateMae.Interop;

/// <summary>The tensors and metadata of a safetensors file (see <see cref="Safetensors.Load"/>).</summary>
/// <remarks>Disposing the instance disposes its tensors.</remarks>
public sealed class SafetensorsContent : IDisposable
{
    internal SafetensorsContent(IReadOnlyList<(string Key, Tensor Value)> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        Tensors = tensors;
        Metadata = metadata;
    }

    /// <summary>The tensors, ordered by their position in the file's data section (contiguous CPU tensors).</summary>
    public IReadOnlyList<(string Key, Tensor Value)> Tensors { get; }

    /// <summary>The header's <c>__metadata__</c> string map (empty when absent).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Disposes every tensor.</summary>
    public void Dispose()
    {
        foreach (var (_, t) in Tensors) t.Dispose();
    }
}
