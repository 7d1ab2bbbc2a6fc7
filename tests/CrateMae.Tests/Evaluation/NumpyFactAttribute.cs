using System.Diagnostics;

namespace CrateMae.Tests.Evaluation;

/// <summary>A fact that is skipped (with the reason) when <c>/usr/bin/python3 -c "import numpy"</c> fails.</summary>
public sealed class NumpyFactAttribute : FactAttribute
{
    public const string Python = "/usr/bin/python3";
    private static readonly Lazy<bool> Available = new(Probe);

    public NumpyFactAttribute()
    {
        if (!Available.Value) Skip = $"numpy is not importable by {Python}";
    }

    private static bool Probe()
    {
        if (!File.Exists(Python)) return false;
        try
        {
            using var p = Process.Start(new ProcessStartInfo(Python, ["-c", "import numpy"])
            {
                RedirectStandardError = true,
                RedirectStandardOutput = true,
            })!;
            p.WaitForExit(30_000);
            return p.HasExited && p.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }
}
