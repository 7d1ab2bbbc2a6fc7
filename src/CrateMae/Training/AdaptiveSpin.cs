using System.Diagnostics;
using System.Globalization;

namespace CrateMae.Training;

/// <summary>
/// libgomp's spin count, switched while the process runs: libtorch's OpenMP workers spin between parallel regions while
/// the other processes on the machine leave the CPUs idle, and sleep at once (as under <c>OMP_WAIT_POLICY=PASSIVE</c>)
/// while they want them. Started by <see cref="ProcessSetup.ConfigureOpenMp"/>; the default of the CLI and the bench
/// program since the tenth session.
/// </summary>
/// <remarks>
/// Why: a spinning worker starts the next region at once, where a sleeping one takes 10–40 µs to wake, and up to
/// 60–140 µs after milliseconds of sleep on this VM (its vCPU halts); a crate-small step at 224 px has about 1,100
/// regions. Measured (<c>bench/ab_env.py</c>, time PASSIVE / time adaptive, docs/performance.md §4): bf16 training
/// 11 % faster at 224 px (fp32 5 %). A fixed spin count costs a second job on the same cores dearly (two 2-thread
/// jobs ran 2.3–3.2× slower than under PASSIVE); this one stops spinning within 100 ms of another process getting busy.
/// How: libgomp reads <c>GOMP_SPINCOUNT</c> once, when it loads, into an internal variable that every wait reads again,
/// and exports no way to change it. <see cref="ProcessSetup"/> sets <c>GOMP_SPINCOUNT=</c><see cref="Marker"/> before
/// libtorch loads; once libgomp is mapped, a background thread finds the one aligned 8-byte word in libgomp's writable
/// data that holds the marker, and from then on writes <see cref="SpinCount"/> or 0 there every <see cref="Window"/>,
/// from the CPU time the other processes used in the last window (<c>/proc/stat</c> less this process's
/// <c>/proc/self/stat</c>). If the word is not found exactly once, nothing is written and libgomp keeps the marker as a
/// fixed, short spin count (two concurrent jobs ran as under PASSIVE with 3,000, docs/performance.md §4).
/// </remarks>
public static unsafe class AdaptiveSpin
{
    /// <summary>
    /// The <c>GOMP_SPINCOUNT</c> set before libtorch loads, found again in libgomp's memory. Chosen to be distinctive
    /// and, if it is not found, a harmless fixed spin count.
    /// </summary>
    public const ulong Marker = 2939;

    /// <summary>
    /// The spin count while the machine is otherwise idle: libgomp's own default, what PyTorch runs with (a spin is one
    /// load and one <c>pause</c>). Against 30,000, time 30,000 / time 300,000 was 1.032 (fp32) and 1.043 (bf16) at 224 px.
    /// </summary>
    public const ulong SpinCount = 300_000;

    /// <summary>Workers sleep at once while the other processes used more than this many CPUs in the last window.</summary>
    public const double OtherProcessesThreshold = 0.3;

    /// <summary>How often the other processes' CPU use is sampled and the spin count set.</summary>
    public static readonly TimeSpan Window = TimeSpan.FromMilliseconds(100);

    /// <summary>How long to look for the marker after libgomp appears (its constructor sets it while it loads).</summary>
    private static readonly TimeSpan LocateFor = TimeSpan.FromSeconds(10);

    /// <summary>Clock ticks per second of /proc/stat and /proc/self/stat (USER_HZ, 100 on every Linux ABI).</summary>
    private const double TicksPerSecond = 100;

    private static int started;
    private static ulong* spinCountWord;
    private static long windows, spinningWindows;
    private static volatile string state = "waiting for libgomp to load";

    /// <summary>Whether <see cref="ProcessSetup.ConfigureOpenMp"/> chose the adaptive spin count for this process.</summary>
    public static bool Started => Volatile.Read(ref started) == 1;

    /// <summary>Windows sampled so far, and how many of them the workers spun in (for a share over a run).</summary>
    public static (long Windows, long Spinning) Counters => (Interlocked.Read(ref windows), Interlocked.Read(ref spinningWindows));

    /// <summary>A one-line description for reports: the rule in force, or why libgomp keeps the marker.</summary>
    public static string Describe() => Started && TryLocate() == true
        ? $"adaptive (GOMP_SPINCOUNT {SpinCount} while other processes use under {OtherProcessesThreshold.ToString(CultureInfo.InvariantCulture)} CPU, else 0)"
        : $"adaptive, inactive: {state}";

    /// <summary>The spin count for a window in which the other processes used <paramref name="otherCpus"/> CPUs.</summary>
    public static ulong Decide(double otherCpus) => otherCpus > OtherProcessesThreshold ? 0 : SpinCount;

    internal static void Start()
    {
        if (Interlocked.Exchange(ref started, 1) == 1) return;
        new Thread(Run) { IsBackground = true, Name = "crate-mae OpenMP spin count" }.Start();
    }

    private static void Run()
    {
        try
        {
            if (!WaitForLibGomp()) return;
            var clock = Stopwatch.StartNew();
            var last = CpuTicks.Read();
            while (true)
            {
                Thread.Sleep(Window);
                var now = CpuTicks.Read();
                double seconds = clock.Elapsed.TotalSeconds;
                clock.Restart();
                ulong spin = Decide(now.OtherCpus(last, seconds));
                Volatile.Write(ref *spinCountWord, spin);
                Interlocked.Increment(ref windows);
                if (spin > 0) Interlocked.Increment(ref spinningWindows);
                last = now;
            }
        }
        catch (Exception e)
        {
            // An exception on this background thread would end the process: fall back to PASSIVE for good instead (never
            // leave the workers spinning unobserved), and say why in the reports.
            lock (Gate)
            {
                if (spinCountWord != null) Volatile.Write(ref *spinCountWord, 0);
                state = $"stopped ({e.GetType().Name}: {e.Message}); spin count 0";
                spinCountWord = null;
                giveUp = true;
            }
        }
    }

    /// <summary>
    /// Waits for libgomp and finds its spin count; false (and <see cref="state"/> says why) if it is not found within
    /// <see cref="LocateFor"/> of libgomp or libtorch appearing. Polls every window for the first minute, then every second
    /// (a command that never loads libtorch).
    /// </summary>
    private static bool WaitForLibGomp()
    {
        var since = new Stopwatch();
        for (int poll = 0; ; poll++)
        {
            switch (TryLocate())
            {
                case true: return true;
                case false when !since.IsRunning: since.Start(); break;
                case false when since.Elapsed > LocateFor:
                    lock (Gate) { state = $"{state}; libgomp keeps GOMP_SPINCOUNT={Marker}"; giveUp = true; }
                    return false;
            }
            Thread.Sleep(poll < 600 ? Window : TimeSpan.FromSeconds(1));
        }
    }

    private static readonly object Gate = new();
    private static bool giveUp;

    /// <summary>
    /// Looks for libgomp's spin count once: true when found (now or before), false when libgomp is loaded but the marker
    /// is not in exactly one word (yet) or libtorch was loaded without it, null while neither is loaded.
    /// </summary>
    private static bool? TryLocate()
    {
        lock (Gate)
        {
            if (spinCountWord != null) return true;
            if (giveUp) return false;
            // One reading of /proc/self/maps per poll serves the library lookup and the search.
            var maps = ProcessSetup.Mappings() ?? [];
            var files = ProcessSetup.MappedFiles(maps)!;
            var libgomp = ProcessSetup.LoadedLibGomp(files).FirstOrDefault();
            if (libgomp is null)
            {
                if (!files.Any(ProcessSetup.IsLibTorchCpu)) return null;
                state = "libtorch is loaded without libgomp (another OpenMP runtime?)";
                return false;
            }
            var words = Locate(libgomp, Marker, maps);
            if (words.Count != 1)
            {
                state = $"{words.Count} words in the writable data of {libgomp} hold the marker {Marker} (expected 1)";
                return false;
            }
            spinCountWord = (ulong*)words[0];
            Volatile.Write(ref *spinCountWord, 0);   // PASSIVE until the first window has been measured
            state = $"active ({libgomp})";
            return true;
        }
    }

    /// <summary>
    /// The addresses of the aligned 8-byte words equal to <paramref name="value"/> in the writable data of
    /// <paramref name="library"/>: its read-write file mappings and the anonymous mappings right after them (its .bss).
    /// <paramref name="maps"/>: this process's mappings if already read.
    /// </summary>
    internal static List<nint> Locate(string library, ulong value, IReadOnlyList<ProcessSetup.Mapping>? maps = null)
    {
        var found = new List<nint>();
        maps ??= ProcessSetup.Mappings() ?? [];
        ulong previousEnd = 0;
        bool inLibrary = false;
        foreach (var m in maps)
        {
            bool own = m.Path == library;
            bool bss = inLibrary && m.Path.Length == 0 && m.Start == previousEnd;
            inLibrary = own || bss;
            previousEnd = m.End;
            if (!inLibrary || !m.Writable || m.End - m.Start > 16UL << 20) continue;
            for (ulong a = m.Start; a + 8 <= m.End; a += 8)
                if (*(ulong*)a == value) found.Add((nint)a);
        }
        return found;
    }

    /// <summary>Busy clock ticks of the whole machine and of this process, from one reading of /proc.</summary>
    internal readonly record struct CpuTicks(long MachineBusy, long Process)
    {
        public static CpuTicks Read() =>
            new(ParseMachineBusy(File.ReadLines("/proc/stat").First()), ParseProcessTicks(File.ReadAllText("/proc/self/stat")));

        /// <summary>CPUs the other processes used on average since <paramref name="earlier"/>, <paramref name="seconds"/> ago.</summary>
        public double OtherCpus(CpuTicks earlier, double seconds) =>
            seconds <= 0 ? 0 : Math.Max(0, (MachineBusy - earlier.MachineBusy) - (Process - earlier.Process)) / TicksPerSecond / seconds;
    }

    /// <summary>
    /// Busy ticks from the first line of /proc/stat (<c>cpu user nice system idle iowait irq softirq steal …</c>): user,
    /// nice, system, irq and softirq. Idle and iowait are not busy; steal is time the hypervisor gave to other machines.
    /// </summary>
    internal static long ParseMachineBusy(string cpuLine)
    {
        var f = cpuLine.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (f.Length < 8 || f[0] != "cpu") throw new FormatException($"/proc/stat: expected a 'cpu' line with 7 counters, got '{cpuLine}'");
        long F(int i) => long.Parse(f[i], CultureInfo.InvariantCulture);
        return F(1) + F(2) + F(3) + F(6) + F(7);
    }

    /// <summary>utime + stime (fields 14 and 15) of a /proc/[pid]/stat line; the command name may contain spaces.</summary>
    internal static long ParseProcessTicks(string statLine)
    {
        int close = statLine.LastIndexOf(')');
        var f = close < 0 ? [] : statLine[(close + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (f.Length < 13) throw new FormatException($"/proc/self/stat: expected utime and stime after the command name, got '{statLine}'");
        return long.Parse(f[11], CultureInfo.InvariantCulture) + long.Parse(f[12], CultureInfo.InvariantCulture);
    }
}
