#!/usr/bin/python3
"""How often some CPUs sit idle while others run the program, and what runs alone then, from a system-wide perf profile.

`perf record -a` samples every CPU at the same timer ticks; an idle CPU is sampled in the kernel's idle task (pid 0,
"swapper"). Ticks where every CPU was sampled are sorted into all busy, partly idle and all idle; for the partly idle
ticks the script lists the symbols that ran (what keeps the other cores waiting), and for every symbol how many of its
samples fell in such ticks. On two cores that is the time one core runs a parallel region alone (a worker not yet woken,
an unbalanced split) or serial code (the main thread between regions).

    CM=src/CrateMae.Cli/bin/Release/net10.0/crate-mae
    ONEDNN_JIT_PROFILE=2 DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0 perf record -F 1999 -a -o perf.data -- \\
        $CM bench --model crate-small --batch 8 --steps 16 --threads 2 --precision bf16 --only train --peak-size 0
    perf script -i perf.data -F cpu,tid,comm,time,ip,sym,dso > perf.txt
    /usr/bin/python3 bench/idle_cores.py perf.txt --hz 1999 --last 15 --skip-end 1.5

(ONEDNN_JIT_PROFILE=2 and DOTNET_PerfMapEnabled=1 name oneDNN's and .NET's JIT-compiled code. --last/--skip-end keep
the timed steps: the window of --last seconds that ends --skip-end seconds before the last sample.) A spinning OpenMP
worker counts as busy: run it under OMP_WAIT_POLICY=PASSIVE to see the waits.
"""
import argparse
import collections
import re
import sys

LINE = re.compile(r"\s*(.+?)\s+(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+(\S+)\s+(.*)$")


def parse(path):
    """(time, cpu, comm, tid, symbol) for every sample line of `perf script -F cpu,tid,comm,time,ip,sym,dso`."""
    rows = []
    try:
        with open(path, errors="replace") as f:
            for line in f:
                m = LINE.match(line)
                if not m:
                    continue
                comm, tid, cpu, t, _ip, sym = m.groups()
                sym = re.sub(r"\+0x[0-9a-f]+", "", sym).strip()
                rows.append((float(t), int(cpu), comm, int(tid), sym))
    except OSError as e:
        sys.exit(f"{path}: cannot read ({e.strerror})")
    if not rows:
        sys.exit(f"{path}: no samples; expected the output of perf script -F cpu,tid,comm,time,ip,sym,dso")
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("perf_script", help="output of perf script -F cpu,tid,comm,time,ip,sym,dso over a perf record -a profile")
    ap.add_argument("--hz", type=float, default=1999, help="the sampling frequency given to perf record -F (default 1999)")
    ap.add_argument("--last", type=float, help="only the last S seconds of the profile (before --skip-end)")
    ap.add_argument("--skip-end", type=float, default=0.0, help="leave out the last S seconds (the process exiting)")
    ap.add_argument("--top", type=int, default=25, help="symbols to list (default 25)")
    a = ap.parse_args()
    if a.hz <= 0:
        sys.exit("--hz: expected a positive sampling frequency")
    rows = parse(a.perf_script)
    cpus = sorted({r[1] for r in rows})
    end = max(r[0] for r in rows) - a.skip_end
    start = end - a.last if a.last is not None else min(r[0] for r in rows)
    ticks = collections.defaultdict(dict)
    for t, cpu, comm, tid, sym in rows:
        if start <= t <= end:
            ticks[round(t * a.hz)][cpu] = (comm, tid, sym)
    full = [v for v in ticks.values() if len(v) == len(cpus)]
    if not full:
        sys.exit(f"{a.perf_script}: no tick with a sample from every CPU ({len(cpus)}) in the window; "
                 "was it recorded with perf record -a, and is --hz its -F?")
    busy_all = idle_all = 0
    alone = collections.Counter()
    threads = collections.Counter()
    total = collections.Counter()
    partly = collections.Counter()
    for tick in full:
        busy = [s for s in tick.values() if s[1] != 0]
        if not busy:
            idle_all += 1
            continue
        some_idle = len(busy) < len(cpus)
        busy_all += not some_idle
        for comm, tid, sym in busy:
            total[sym] += 1
            if some_idle:
                partly[sym] += 1
                alone[sym] += 1
                threads[f"{comm} ({tid})"] += 1
    n = len(full)
    partly_idle = n - busy_all - idle_all
    print(f"{a.perf_script}: {len(cpus)} CPUs, {n} ticks with a sample from each, window {end - start:.1f} s")
    print(f"  all busy {busy_all} ({100 * busy_all / n:.1f} %), partly idle {partly_idle} ({100 * partly_idle / n:.1f} %), "
          f"all idle {idle_all} ({100 * idle_all / n:.1f} %)")
    if alone:
        print("threads running in partly idle ticks:")
        for name, c in threads.most_common(6):
            print(f"  {c:7d}  {name}")
        print("symbols running in partly idle ticks (share of those samples):")
        m = sum(alone.values())
        for sym, c in alone.most_common(a.top):
            print(f"  {c:7d}  {100 * c / m:5.1f} %  {sym[:120]}")
    print("symbols by samples: all, in partly idle ticks, share")
    for sym, c in total.most_common(a.top):
        print(f"  {c:7d}  {partly[sym]:7d}  {100 * partly[sym] / c:5.1f} %  {sym[:120]}")


if __name__ == "__main__":
    main()
