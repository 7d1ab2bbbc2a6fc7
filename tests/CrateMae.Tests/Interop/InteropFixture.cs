using TorchSharp;

namespace CrateMae.Tests.Interop;

/// <summary>Shared set-up: single-threaded libtorch for tests that do tensor math.</summary>
public sealed class InteropFixture
{
    public InteropFixture() => torch.set_num_threads(1);
}
