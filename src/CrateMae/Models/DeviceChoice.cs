using TorchSharp;

namespace CrateMae.Models;

/// <summary>Parses the user's <c>--device</c> choice into a TorchSharp device.</summary>
public static class DeviceChoice
{
    public static torch.Device Parse(string? name)
    {
        var n = (name ?? "cpu").Trim().ToLowerInvariant();
        if (n.StartsWith("cuda", StringComparison.Ordinal) && !torch.cuda.is_available())
            throw new ArgumentException($"--device {name}: CUDA is not available with this libtorch package; " +
                                        "build with -p:LibTorchPackage=libtorch-cuda-12.8-linux-x64 on a machine with an NVIDIA GPU, or use --device cpu.");
        try { return torch.device(n); }
        catch (Exception e) { throw new ArgumentException($"--device {name}: expected cpu, cuda or cuda:N ({e.Message})."); }
    }
}
