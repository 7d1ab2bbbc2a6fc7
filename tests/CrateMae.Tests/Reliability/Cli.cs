using System.Diagnostics;
using System.Reflection;
using System.Text;
using CrateMae.Cli;
using Spectre.Console;

namespace CrateMae.Tests.Reliability;

/// <summary>What a CLI run printed and returned.</summary>
public sealed record CliResult(int ExitCode, string Stdout, string Stderr)
{
    /// <summary>The non-empty lines of stderr.</summary>
    public string[] ErrorLines => Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Stdout}\n--- stderr\n{Stderr}";
}

/// <summary>Runs the real <c>crate-mae</c> entry point, in-process or as a child process.</summary>
public static class Cli
{
    private static readonly object ConsoleLock = new();

    /// <summary>The tiny CRATE model of the reliability tests (28×28 gray, 16 patches, 12k parameters).</summary>
    public const string TinyModel =
        """{"kind":"crate","img_size":28,"patch_size":7,"in_chans":1,"embed_dim":32,"depth":1,"num_heads":2,"decoder_embed_dim":32,"decoder_depth":1,"decoder_num_heads":2}""";

    /// <summary>The compiled crate-mae.dll (copied beside the tests by the project reference).</summary>
    public static string DllPath => Path.Combine(AppContext.BaseDirectory, "crate-mae.dll");

    /// <summary>Runs <c>Program.Main</c> with <paramref name="args"/>, capturing stdout and stderr (serialised: the console is process-wide).</summary>
    public static CliResult Run(params string[] args)
    {
        var entry = typeof(CliErrors).Assembly.EntryPoint ?? throw new InvalidOperationException("crate-mae has no entry point");
        lock (ConsoleLock)
        {
            var (oldOut, oldErr, oldAnsi) = (Console.Out, Console.Error, AnsiConsole.Console);
            var stdout = new StringWriter();
            var stderr = new StringWriter();
            Console.SetOut(stdout);
            Console.SetError(stderr);
            AnsiConsole.Console = AnsiConsole.Create(new AnsiConsoleSettings
            {
                Out = new AnsiConsoleOutput(stdout), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors,
                Interactive = InteractionSupport.No,
            });
            try
            {
                int code;
                try
                {
                    code = (int)entry.Invoke(null, [args])!;
                }
                catch (TargetInvocationException e)
                {
                    throw new Xunit.Sdk.XunitException($"crate-mae threw instead of returning an exit code: {e.InnerException}");
                }
                return new CliResult(code, stdout.ToString(), stderr.ToString());
            }
            finally
            {
                Console.SetOut(oldOut);
                Console.SetError(oldErr);
                AnsiConsole.Console = oldAnsi;
            }
        }
    }

    /// <summary>
    /// Asserts the failure contract: a non-zero exit code (<paramref name="expectedExit"/> when given), exactly one line on
    /// stderr, starting with <c>error:</c>, containing every fragment, and no stack trace.
    /// </summary>
    public static string AssertOneLineError(CliResult r, int? expectedExit, params string[] fragments)
    {
        Assert.True(r.ExitCode != 0, $"expected a failure\n{r}");
        if (expectedExit is { } code) Assert.True(code == r.ExitCode, $"expected exit code {code}\n{r}");
        var lines = r.ErrorLines;
        Assert.True(lines.Length == 1, $"expected exactly one line on stderr, got {lines.Length}\n{r}");
        var line = lines[0];
        Assert.StartsWith("error: ", line);
        Assert.DoesNotContain("   at ", r.Stderr);
        Assert.DoesNotContain("Exception:", line);
        foreach (var f in fragments) Assert.True(line.Contains(f, StringComparison.Ordinal), $"stderr line lacks '{f}':\n{line}");
        return line;
    }

    /// <summary>
    /// Starts <c>dotnet crate-mae.dll ARGS</c> with redirected output (collected asynchronously), with SIGINT at its default
    /// disposition: a shell without job control starts a background job (<c>bash scripts/test.sh &amp;</c>, nohup, some CI
    /// runners) with SIGINT ignored, children inherit that, and .NET then keeps ignoring Ctrl-C, as a program should;
    /// coreutils' <c>env --default-signal=INT</c> resets it before exec (same PID), so the Ctrl-C tests test Ctrl-C.
    /// </summary>
    public static ChildProcess Start(IEnumerable<string> args, string workingDirectory)
    {
        var psi = new ProcessStartInfo("env")
        {
            WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        psi.ArgumentList.Add("--default-signal=INT");
        psi.ArgumentList.Add("dotnet");
        psi.ArgumentList.Add(DllPath);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["NO_COLOR"] = "1";
        return new ChildProcess(Process.Start(psi) ?? throw new InvalidOperationException("could not start env --default-signal=INT dotnet"));
    }
}

/// <summary>A running crate-mae child process whose output is collected in the background.</summary>
public sealed class ChildProcess : IDisposable
{
    private readonly StringBuilder _out = new();
    private readonly StringBuilder _err = new();

    public ChildProcess(Process process)
    {
        Process = process;
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_out) _out.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_err) _err.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public Process Process { get; }

    public string Stdout { get { lock (_out) return _out.ToString(); } }

    public string Stderr { get { lock (_err) return _err.ToString(); } }

    /// <summary>Sends a POSIX signal (SIGTERM 15, SIGINT 2, SIGKILL 9) to the process.</summary>
    public void Signal(int signal)
    {
        if (Process.HasExited) return;
        if (Native.kill(Process.Id, signal) != 0 && !Process.HasExited)
            throw new InvalidOperationException($"kill({Process.Id}, {signal}) failed");
    }

    /// <summary>Waits for the exit and returns the result; kills the process and fails after <paramref name="timeout"/>.</summary>
    public CliResult WaitForExit(TimeSpan timeout)
    {
        if (!Process.WaitForExit(timeout))
        {
            Process.Kill(entireProcessTree: true);
            Process.WaitForExit();
            throw new Xunit.Sdk.XunitException($"crate-mae did not exit within {timeout}\n--- stdout\n{Stdout}\n--- stderr\n{Stderr}");
        }
        Process.WaitForExit();    // flushes the asynchronous readers
        return new CliResult(Process.ExitCode, Stdout, Stderr);
    }

    public void Dispose()
    {
        if (!Process.HasExited)
        {
            Process.Kill(entireProcessTree: true);
            Process.WaitForExit();
        }
        Process.Dispose();
    }

    private static class Native
    {
        [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
        public static extern int kill(int pid, int sig);
    }
}
