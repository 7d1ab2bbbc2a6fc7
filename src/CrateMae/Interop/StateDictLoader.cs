using TorchSharp;
using static TorchSharp.torch;

namespace CrateMae.Interop;

/// <summary>Copies state_dict tensors into a module (strictly) and exports a module's state_dict for saving.</summary>
public static class StateDictLoader
{
    /// <summary>
    /// Strictly loads <paramref name="tensors"/> into <paramref name="module"/>. The keys are compared with
    /// <c>module.state_dict()</c>; if any key is missing, unexpected, repeated or has a different shape, nothing is
    /// copied and one <see cref="StateDictMismatchException"/> lists all of them (with expected and found shapes)
    /// and names <paramref name="sourceName"/>. Otherwise every value is copied in place under
    /// <c>torch.no_grad()</c>, converted to the parameter's dtype and device; each parameter keeps its own
    /// <c>requires_grad</c> flag.
    /// </summary>
    /// <exception cref="StateDictMismatchException">Keys or shapes do not match.</exception>
    public static void LoadInto(nn.Module module, IEnumerable<(string Key, Tensor Value)> tensors, string sourceName)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(tensors);
        ArgumentNullException.ThrowIfNull(sourceName);
        var target = module.state_dict();
        var source = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var unexpected = new List<string>();
        var duplicated = new List<string>();
        var misshaped = new List<(string, long[], long[])>();
        foreach (var (key, value) in tensors)
        {
            if (value is null) throw new ArgumentException($"{sourceName}: tensor '{key}' is null.", nameof(tensors));
            if (!source.TryAdd(key, value)) { if (!duplicated.Contains(key)) duplicated.Add(key); continue; }
            if (!target.TryGetValue(key, out var dest)) { unexpected.Add(key); continue; }
            if (!dest.shape.SequenceEqual(value.shape)) misshaped.Add((key, dest.shape, value.shape));
        }
        var missing = target.Keys.Where(k => !source.ContainsKey(k)).ToList();
        if (missing.Count + unexpected.Count + duplicated.Count + misshaped.Count > 0)
            throw new StateDictMismatchException(sourceName, module.GetType().Name, missing, unexpected, duplicated, misshaped);

        using var noGrad = torch.no_grad();
        foreach (var (key, dest) in target) dest.copy_(source[key]);
    }

    /// <summary>
    /// The module's state_dict as an ordered list of detached, contiguous CPU copies (in <c>module.state_dict()</c>
    /// order), ready for <see cref="PyTorchFile.SaveStateDict"/> or <see cref="Safetensors.Save"/>. The copies are
    /// moved out of the caller's dispose scope.
    /// </summary>
    public static IReadOnlyList<(string Key, Tensor Value)> Export(nn.Module module)
    {
        ArgumentNullException.ThrowIfNull(module);
        using var scope = torch.NewDisposeScope();
        var result = new List<(string Key, Tensor Value)>();
        foreach (var (key, value) in module.state_dict())
        {
            var copy = value.detach().cpu().clone();
            if (!copy.is_contiguous()) copy = copy.contiguous();
            result.Add((key, copy));
        }
        foreach (var (_, t) in result) t.MoveToOuterDisposeScope();
        return result;
    }
}
