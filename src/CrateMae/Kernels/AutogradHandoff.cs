using static TorchSharp.torch;

namespace CrateMae.Kernels;

/// <summary>
/// Frees the tensors that pass through the backward of our custom autograd functions as early as libtorch allows.
/// </summary>
/// <remarks>
/// TorchSharp calls a custom backward from the autograd engine with fresh tensor wrappers (the saved tensors, the
/// incoming gradient), and the gradient it returns is another wrapper. All of them register in whatever dispose scope
/// is open, i.e. the training step's, so without care every attention-sized gradient and saved tensor of the backward
/// stays allocated until the step ends (at 224 px in bf16, +335 MB of RSS for the row softmax alone). The engine copies
/// the returned <c>at::Tensor</c> when the callback returns, so the returned wrapper is released when the next
/// custom backward on this thread begins, and the last one by <see cref="ReleaseAll"/> once <c>backward()</c> has returned
/// (the training and fine-tuning steps call it); inputs are disposed by the backward itself.
/// </remarks>
internal static class AutogradHandoff
{
    [ThreadStatic] private static List<Tensor>? _returned;

    /// <summary>Call first in a custom backward: releases the gradients handed over by earlier backward calls on this thread.</summary>
    public static void Begin() => ReleaseAll();

    /// <summary>Returns <paramref name="gradient"/> to the engine; our wrapper is released by the next <see cref="Begin"/> or <see cref="ReleaseAll"/>.</summary>
    public static Tensor Return(Tensor gradient)
    {
        (_returned ??= []).Add(gradient.DetachFromDisposeScope());
        return gradient;
    }

    /// <summary>Releases the wrappers still held on this thread (call after <c>backward()</c> has returned).</summary>
    public static void ReleaseAll()
    {
        if (_returned is not { Count: > 0 } returned) return;
        foreach (var t in returned) t.Dispose();
        returned.Clear();
    }
}
