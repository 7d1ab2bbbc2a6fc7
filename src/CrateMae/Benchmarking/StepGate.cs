using System.Globalization;

namespace CrateMae.Benchmarking;

/// <summary>
/// Called around every step of <see cref="ThroughputBenchmark.Run"/> (warm-up and timed), so that a driver can run the
/// steps of several benchmark processes one at a time, alternating them (<c>bench/vs_official.py --paired</c>): on a
/// shared machine whose speed drifts by 2× within minutes, only steps taken side by side compare fairly.
/// </summary>
public interface IStepGate
{
    /// <summary>Blocks until the step may run. <paramref name="phase"/> is <c>train</c> or <c>embed</c>.</summary>
    void Before(string phase, bool timed);

    /// <summary>Reports the step's wall time.</summary>
    void After(string phase, bool timed, double seconds);
}

/// <summary>
/// The line protocol of <c>crate-mae bench --lockstep</c> (the same as <c>python/crate_mae_official.py
/// --lockstep</c>): before each step the process writes <c>lockstep: ready PHASE warmup|timed</c> to
/// <paramref name="output"/> (stderr) and waits for a line <c>go</c> on <paramref name="input"/> (stdin); after it, it
/// writes <c>lockstep: done PHASE SECONDS</c>. Anything other than <c>go</c>, or the end of the input, stops the run
/// with an error naming the option.
/// </summary>
public sealed class LineStepGate(TextReader input, TextWriter output) : IStepGate
{
    public const string Prefix = "lockstep: ";

    public void Before(string phase, bool timed)
    {
        output.WriteLine($"{Prefix}ready {phase} {(timed ? "timed" : "warmup")}");
        output.Flush();
        var line = input.ReadLine();
        if (line is null)
            throw new InvalidOperationException($"--lockstep: the input ended while the next {phase} step waited for 'go'");
        if (line.Trim() != "go")
            throw new InvalidOperationException($"--lockstep: expected a line 'go' on the input before the next {phase} step, got '{line}'");
    }

    public void After(string phase, bool timed, double seconds)
    {
        output.WriteLine($"{Prefix}done {phase} {seconds.ToString("R", CultureInfo.InvariantCulture)}");
        output.Flush();
    }
}
