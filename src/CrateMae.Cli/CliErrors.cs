using Spectre.Console.Cli;

namespace CrateMae.Cli;

/// <summary>Turns any failure into one line on stderr and a non-zero exit code; the stack trace only with --verbose.</summary>
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
            // Plain text, never wrapped: one line a user (or a script) can read and grep.
            bool color = !Console.IsErrorRedirected && Environment.GetEnvironmentVariable("NO_COLOR") is null;
            Console.Error.WriteLine((color ? "\u001b[31merror:\u001b[0m " : "error: ") + OneLine(root.Message));
            if (verbose) Console.Error.WriteLine(e.ToString());
            return root switch
            {
                CommandParseException or CommandRuntimeException or ArgumentException => 2,
                OperationCanceledException => 130,
                _ => 1,
            };
        }
    }

    private static Exception Unwrap(Exception e)
    {
        while (e is AggregateException { InnerExceptions.Count: 1 } || (e is TypeInitializationException or System.Reflection.TargetInvocationException) && e.InnerException is not null)
            e = e.InnerException!;
        return e;
    }

    private static string OneLine(string s) => s.Replace("\r", " ").Replace("\n", " ").Trim();
}
