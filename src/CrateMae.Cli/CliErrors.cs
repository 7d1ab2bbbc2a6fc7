using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using Spectre.Console.Cli;

namespace CrateMae.Cli;

/// <summary>
/// Turns any failure into exactly one line on stderr (<c>error: …</c>, never wrapped) and a non-zero exit code; the stack
/// trace only with --verbose. Exit codes: 2 for bad arguments/inputs the user gave (parse errors, ArgumentException),
/// 130 for cancellation, 1 for everything else (unreadable or corrupt files, I/O failures, divergence).
/// </summary>
public static class CliErrors
{
    public static int Run(Func<int> body, string[] args)
    {
        bool verbose = args.Contains("--verbose");
        try
        {
            return body();
        }
        catch (Exception e)
        {
            var root = Unwrap(e);
            var line = WithOption(Describe(root), root, args);
            bool color = !Console.IsErrorRedirected && Environment.GetEnvironmentVariable("NO_COLOR") is null;
            Console.Error.WriteLine(color ? $"\u001b[31merror:\u001b[0m {line}" : $"error: {line}");
            if (verbose) Console.Error.WriteLine(e.ToString());
            return ExitCode(root);
        }
    }

    public static int ExitCode(Exception root) => root switch
    {
        CommandParseException or CommandRuntimeException or ArgumentException => 2,
        OperationCanceledException => 130,
        _ => 1,
    };

    /// <summary>The one-line message shown for <paramref name="e"/>.</summary>
    public static string Describe(Exception e)
    {
        var message = e.Message;
        // ArgumentException appends " (Parameter 'name')" (and ArgumentOutOfRangeException "Actual value was …"): noise for a user.
        if (e is ArgumentException { ParamName: { } p })
        {
            int at = message.IndexOf($" (Parameter '{p}')", StringComparison.Ordinal);
            if (at >= 0) message = message[..at];
        }
        // libtorch errors carry a C++ backtrace after the first line.
        if (e is ExternalException) message = message.Split('\n', 2)[0];
        var line = OneLine(message);
        return line.Length > 0 ? line : e.GetType().Name;
    }

    /// <summary>
    /// A value the parser could not convert ("Failed to convert 'abc' to Double.") with the option it was given to in
    /// front (<c>--val-fraction: …</c>), found in <paramref name="args"/> as <c>--option value</c> or <c>--option=value</c>.
    /// </summary>
    private static string WithOption(string line, Exception root, string[] args)
    {
        if (root is not (CommandParseException or CommandRuntimeException)) return line;
        var match = Regex.Match(line, "^Failed to convert '(.*)' to ");
        if (!match.Success) return line;
        string value = match.Groups[1].Value;
        for (int i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith('-')) continue;
            if (i + 1 < args.Length && args[i + 1] == value) return $"{args[i]}: {line}";
            if (args[i].EndsWith("=" + value, StringComparison.Ordinal)) return $"{args[i][..args[i].IndexOf('=')]}: {line}";
        }
        return line;
    }

    private static Exception Unwrap(Exception e)
    {
        while (e is AggregateException { InnerExceptions.Count: 1 } || (e is TypeInitializationException or System.Reflection.TargetInvocationException) && e.InnerException is not null)
            e = e.InnerException!;
        return e;
    }

    private static string OneLine(string s) =>
        string.Join(' ', s.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
}
