using System.Diagnostics;
using Spectre.Console;

namespace CrateMae.Cli.Commands;

/// <summary>
/// Human output of the evaluation commands: tables and status lines on stdout, or, with <c>--json</c>, status lines on
/// stderr so that stdout holds only the JSON document.
/// </summary>
public sealed class Reporter
{
    public Reporter(bool json)
    {
        Json = json;
        Console = json ? AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(System.Console.Error) }) : AnsiConsole.Console;
    }

    public bool Json { get; }

    /// <summary>Where tables and status lines go.</summary>
    public IAnsiConsole Console { get; }

    /// <summary>A grey status line, printed literally (no markup, no <c>:emoji:</c> codes such as <c>fashion-mnist:train:</c>).</summary>
    public void Info(string text) => Console.Write(new Text(text + "\n", new Style(Color.Grey)));

    /// <summary>Writes the document to stdout (the only thing written there with --json).</summary>
    public void WriteJson(string json) => System.Console.Out.WriteLine(json);

    /// <summary>A progress callback that prints "label: done / total" at most every 15 s.</summary>
    public Action<long> Throttled(string label, long total)
    {
        var clock = Stopwatch.StartNew();
        var last = TimeSpan.Zero;
        return done =>
        {
            if (clock.Elapsed - last < TimeSpan.FromSeconds(15)) return;
            last = clock.Elapsed;
            double rate = done / Math.Max(1e-9, clock.Elapsed.TotalSeconds);
            Info($"{label}: {done:N0} / {total:N0} images ({rate:F0} img/s)");
        };
    }
}
