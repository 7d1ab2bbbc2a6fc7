using System.Diagnostics;
using CrateMae.Interop;
using CrateMae.Tests.Data;
using CrateMae.Tests.Interop;
using Xunit.Abstractions;

namespace CrateMae.Tests.Reliability;

/// <summary>
/// Loading a .pth executes nothing. The Interop tests refuse exploit pickles (os/posix.system,
/// builtins.eval/exec, subprocess.Popen, …, also inside a torch zip archive; and a real torch.save payload when PyTorch is
/// installed). This test adds the proof that the payload is live: Python's own unpickler runs it, while the CLI refuses
/// the same bytes with one line and runs nothing.
/// </summary>
[Collection(ReliabilityCollection.Name)]
public sealed class PickleSafetyTests(ITestOutputHelper log) : IDisposable
{
    private readonly TempDirectory _tmp = new();

    public void Dispose() => _tmp.Dispose();

    private static bool PythonAvailable()
    {
        try
        {
            using var p = Process.Start(new ProcessStartInfo("python3", "-c pass") { RedirectStandardError = true, RedirectStandardOutput = true })!;
            p.WaitForExit(30_000);
            return p.HasExited && p.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }

    [SkippableTheory]
    [InlineData("posix", "system", false)]
    [InlineData("posix", "system", true)]
    [InlineData("os", "system", false)]
    public void A_pickle_that_python_would_execute_is_refused_and_runs_nothing(string module, string name, bool stackGlobal)
    {
        // 1. The payload is real: Python's pickle.loads runs the command (it only creates a marker file).
        Skip.IfNot(PythonAvailable(), "python3 is not installed: cannot show that the payload runs under Python's unpickler");
        var pythonMarker = _tmp.File("ran-under-python");
        var pickle = _tmp.File("evil.pkl");
        File.WriteAllBytes(pickle, PickleBytes.Exploit(module, name, "touch " + pythonMarker, stackGlobal));
        var psi = new ProcessStartInfo("python3") { RedirectStandardError = true, RedirectStandardOutput = true };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("import pickle, sys; pickle.loads(open(sys.argv[1], 'rb').read())");
        psi.ArgumentList.Add(pickle);
        using (var py = Process.Start(psi)!)
        {
            py.WaitForExit(60_000);
            Assert.True(File.Exists(pythonMarker), $"python did not run the payload: {py.StandardError.ReadToEnd()}");
        }

        // 2. The same payload as a torch-style .pth archive: crate-mae refuses it with one line and runs nothing.
        var ourMarker = _tmp.File("ran-under-crate-mae");
        var pth = _tmp.File("evil.pth");
        InteropTestSupport.WriteZip(pth, ("evil/data.pkl", PickleBytes.Exploit(module, name, "touch " + ourMarker, stackGlobal)),
            ("evil/version", "3\n"u8.ToArray()));
        var output = _tmp.File("out.safetensors");
        var line = Cli.AssertOneLineError(Cli.Run("convert", pth, output, "--model", Cli.TinyModel), 1,
            pth, $"{module}.{name}", "allow-list", "Nothing from this file was executed");
        Assert.False(File.Exists(ourMarker), "crate-mae ran the payload");
        Assert.False(File.Exists(output));
        Assert.Throws<InvalidDataException>(() => StateDictFile.Load(pth));
        Assert.False(File.Exists(ourMarker));
        log.WriteLine($"python ran {module}.{name}; crate-mae: {line}");
    }
}
