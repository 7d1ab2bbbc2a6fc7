#!/usr/bin/python3
"""Speed against the official CRATE-MAE code, measured in the same time window.

Runs `crate-mae bench` (fp32, and bf16 on a CPU with bf16 instructions; see --precisions) and the official-form
PyTorch baseline (python/crate_mae_official.py, Debian's PyTorch with OpenBLAS) one after the other, ROUNDS
times, and reports per phase (train, embed) the median img/s of each and the median of the per-round speed-ups. Per-round ratios are what to quote on a shared machine:
neighbours move absolute numbers by ±20 % between minutes, but both sides of a round see the same machine.

    /usr/bin/python3 bench/vs_official.py --model crate-small --batch 8 --steps 8 --rounds 3
    /usr/bin/python3 bench/vs_official.py --model bench/cmp32.json --batch 64 --steps 20 --rounds 3 --json out.json

--paired runs the processes (official and one per precision) side by side instead, each with --lockstep, and lets one step
run at a time: every process's warm-up alone, then rounds of one timed step of each (the order reversed every round,
a short pause after each step so that idle BLAS threads stop spinning). The speed-up is then the median [quartiles] of
the per-step ratios official seconds / our seconds of the same round — steps seconds apart instead of whole runs
minutes apart, which is what a shared machine's drift (2× within a minute, docs/performance.md §1) requires:

    /usr/bin/python3 bench/vs_official.py --paired --model crate-small --batch 8 --steps 16

--also NAME=CRATE_MAE adds another build's processes to the same rounds (columns NAME:fp32, NAME:bf16): two versions
of our code against the same official steps, e.g. the previous commit from a `git worktree`:

    /usr/bin/python3 bench/vs_official.py --paired --model crate-small --batch 8 --steps 30 \
        --also "base=dotnet /tmp/base/src/CrateMae.Cli/bin/Release/net10.0/crate-mae.dll"

Needs: a Release build (dotnet build -c Release), python3-torch and an optimised BLAS for it (libopenblas0-pthread;
scripts/setup.sh installs both). The baseline keeps the environment's OPENBLAS_CORETYPE; where none is set and the
CPU has AVX-512 it names SkylakeX (Debian's OpenBLAS misdetects some AVX-512 Xeons and then runs a slow generic kernel;
on a CPU without AVX-512 that kernel would be an illegal instruction).
"""
import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_CLI = os.path.join(ROOT, "src", "CrateMae.Cli", "bin", "Release", "net10.0", "crate-mae")
BASELINE = os.path.join(ROOT, "python", "crate_mae_official.py")


def run_json(cmd, env=None):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr.strip()}")
    return json.loads(p.stdout)


def crate_mae_command(value, given=None):
    """A crate-mae executable path, or a command line such as 'dotnet path/crate-mae.dll'. An error quotes `given`
    (default: --crate-mae VALUE), the option as the user wrote it."""
    cli = [value] if os.path.exists(value) else shlex.split(value)
    if not cli or not os.path.exists(cli[-1]):
        sys.exit(f"{given or '--crate-mae ' + value}: not found (dotnet build -c Release first)")
    return cli


def write_config(bench_result):
    """The model config of a crate-mae bench JSON result (with its image size) in a temporary file, for the baseline."""
    fd, path = tempfile.mkstemp(suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(dict(bench_result["config"], img_size=bench_result["img_size"]), f)
    return path


def blas_check():
    """Debian's torch falls back to the reference BLAS (~4 GFLOP/s) unless OpenBLAS is installed."""
    alt = "/etc/alternatives/libblas.so.3-x86_64-linux-gnu"
    if os.path.exists(alt) and "openblas" not in os.path.realpath(alt):
        sys.exit(f"{alt} points to {os.path.realpath(alt)}: the baseline would run on the reference BLAS; "
                 "install libopenblas0-pthread (scripts/setup.sh does)")


def openblas_env():
    """The environment for the baseline: OPENBLAS_CORETYPE as given, else SkylakeX only on a CPU with AVX-512."""
    env = dict(os.environ)
    if "OPENBLAS_CORETYPE" not in env and cpu_has_avx512():
        env["OPENBLAS_CORETYPE"] = "SkylakeX"
    return env


def cpu_flags():
    """The first 'flags' line of /proc/cpuinfo as a set (empty where it cannot be read)."""
    try:
        with open("/proc/cpuinfo") as f:
            return next((set(line.split(":", 1)[1].split()) for line in f if line.startswith("flags")), set())
    except OSError:
        return set()


def cpu_has_avx512():
    return "avx512f" in cpu_flags()


def auto_precision(flags=None):
    """crate-mae's --precision auto: bf16 where the CPU (its flags, default this one's) multiplies bf16 natively
    (AMX-BF16 or AVX512-BF16), else fp32 (bf16 products are emulated there, far slower)."""
    return "bf16" if (cpu_flags() if flags is None else set(flags)) & {"amx_bf16", "avx512_bf16"} else "fp32"


def default_precisions(flags=None):
    """fp32 and bf16 where the CPU has bf16 instructions (auto_precision), else fp32 alone."""
    return "fp32,bf16" if auto_precision(flags) == "bf16" else "fp32"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="preset, JSON file or inline JSON (as crate-mae bench --model)")
    ap.add_argument("--img", type=int)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--precisions", default=default_precisions(),
                    help="comma list of crate-mae precisions (default fp32,bf16 on a CPU with bf16 instructions, else fp32)")
    ap.add_argument("--crate-mae", default=DEFAULT_CLI,
                    help="the crate-mae executable, or a command line (e.g. 'dotnet path/crate-mae.dll')")
    ap.add_argument("--paired", action="store_true", help="alternate single steps of all processes (see above)")
    # A pause after each step lets the OpenMP workers of the side that just ran go to sleep (PyTorch's libgomp spins
    # after each parallel region by default), so that each side starts its step as it would on a machine of its own.
    ap.add_argument("--gap", type=float, default=0.5, help="--paired: seconds of pause after each step (default 0.5)")
    ap.add_argument("--also", action="append", default=[], metavar="NAME=CRATE_MAE",
                    help="--paired: also run this build (path or command line) in the same rounds, as NAME:PRECISION")
    ap.add_argument("--json", metavar="FILE", help="also write every run and the summary here")
    a = ap.parse_args()
    blas_check()
    cli = crate_mae_command(a.crate_mae)
    if a.rounds < 1 or a.steps < 1:
        sys.exit("--rounds and --steps: expected integers ≥ 1")
    precisions = [p.strip() for p in a.precisions.split(",") if p.strip()]
    common = ["--batch", str(a.batch), "--steps", str(a.steps), "--warmup", str(a.warmup), "--threads", str(a.threads)]
    img = ["--img", str(a.img)] if a.img else []
    env = openblas_env()
    extras = []
    for item in a.also:
        name, sep, command = item.partition("=")
        if not sep or not name or not command or ":" in name or name in ("official", *precisions):
            sys.exit(f"--also {item}: expected NAME=CRATE_MAE (a name without ':' other than official and the precisions)")
        extras.append((name, crate_mae_command(command, f"--also {item}")))
    if extras and not a.paired:
        sys.exit("--also: only with --paired")
    if a.paired:
        return paired(a, cli, precisions, common, img, env, extras)
    runs = {"official": []}
    runs.update({p: [] for p in precisions})
    config_file = None
    try:
        for r in range(a.rounds):
            for p in precisions:
                res = run_json(cli + ["bench", "--model", a.model, "--precision", p, "--peak-size", "0", "--json"] + ours(common) + img)
                runs[p].append(res)
                if config_file is None:
                    config_file = write_config(res)
                if p == precisions[0]:
                    runs["official"].append(run_json(["/usr/bin/python3", BASELINE, "--config", config_file] + common, env))
            print(f"round {r + 1}/{a.rounds}: " + ", ".join(
                f"{k} train {v[-1]['train']['median_img_per_s']:.1f} embed {v[-1]['embed']['median_img_per_s']:.1f}"
                for k, v in runs.items()), file=sys.stderr)
    finally:
        if config_file:
            os.remove(config_file)

    summary = {}
    print(f"\nmodel {runs[precisions[0]][0]['model']}, {runs[precisions[0]][0]['img_size']} px, batch {a.batch}, "
          f"{a.threads} threads, {a.rounds} interleaved rounds; img/s median [range], speed-up = median of per-round ratios")
    print(f"{'':10}{'phase':7}{'official':>22}" + "".join(f"{p:>22}{'× official':>12}" for p in precisions))
    for phase in ("train", "embed"):
        off = [x[phase]["median_img_per_s"] for x in runs["official"]]
        row = {"official": {"median": statistics.median(off), "min": min(off), "max": max(off)}}
        line = f"{'':10}{phase:7}{statistics.median(off):>10.1f} [{min(off):.1f}–{max(off):.1f}]".ljust(39)
        for p in precisions:
            mine = [x[phase]["median_img_per_s"] for x in runs[p]]
            ratios = [o / b for o, b in zip(mine, off)]
            row[p] = {"median": statistics.median(mine), "min": min(mine), "max": max(mine),
                      "speedup_median": statistics.median(ratios), "speedups": ratios}
            line += f"{statistics.median(mine):>10.1f} [{min(mine):.1f}–{max(mine):.1f}]".ljust(22) + f"{statistics.median(ratios):>10.2f}×"
        summary[phase] = row
        print(line)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"schema": "crate-mae/vs-official/1", "args": vars(a), "summary": summary, "runs": runs}, f, indent=1)


class LockstepProcess:
    """A benchmark process started with --lockstep: it announces each step on stderr and runs it on 'go'."""

    def __init__(self, name, cmd, env):
        self.name, self.cmd = name, cmd
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, env=env, bufsize=1)
        self.other_stderr = []
        self.state = None

    def _line(self, prefix):
        while True:
            line = self.p.stderr.readline()
            if not line:
                return None
            if line.startswith(prefix):
                return line[len(prefix):].split()
            self.other_stderr.append(line)

    def wait_ready(self):
        """(phase, 'warmup'|'timed') of the next step, or None once the process has run all its steps."""
        f = self._line("lockstep: ready ")
        self.state = (f[0], f[1]) if f else None
        return self.state

    def step(self):
        self.p.stdin.write("go\n")
        self.p.stdin.flush()
        f = self._line("lockstep: done ")
        if f is None:
            self.fail("stopped during a step")
        return float(f[1])

    def fail(self, what):
        self.p.kill()
        sys.exit(f"{self.name} {what}: {' '.join(self.cmd)}\n{''.join(self.other_stderr[-20:]).strip()}")

    def result(self):
        out, err = self.p.communicate()
        if self.p.returncode != 0:
            self.other_stderr.append(err)
            self.fail(f"failed ({self.p.returncode})")
        return json.loads(out)


def run_lockstep(procs, phases, gap):
    """Drives LockstepProcesses: every process's warm-up alone, then rounds of one timed step of each (the order
    reversed every round, `gap` seconds of pause after each step), phase by phase. Returns {phase: {name: [seconds]}}."""
    for pr in procs:                                  # all models built before the first step runs
        if pr.wait_ready() is None:
            pr.fail("ended before its first step")
    times = {}
    for phase in phases:
        for pr in procs:                              # warm-ups one process at a time
            while pr.state == (phase, "warmup"):
                pr.step()
                time.sleep(gap)
                pr.wait_ready()
        t = times[phase] = {pr.name: [] for pr in procs}
        k = 0
        while all(pr.state == (phase, "timed") for pr in procs):
            for pr in (procs if k % 2 == 0 else procs[::-1]):
                t[pr.name].append(pr.step())
                time.sleep(gap)
                pr.wait_ready()
            k += 1
        print(f"{phase}: {k} rounds", file=sys.stderr)
    return times


def quartiles(xs):
    q = statistics.quantiles(xs, n=4, method="inclusive") if len(xs) > 1 else [xs[0]] * 3
    return q[0], q[1], q[2]


def ours(common):
    """The shared arguments as crate-mae bench names them (the official-code baseline takes --batch)."""
    return ["--batch-size" if arg == "--batch" else arg for arg in common]


def paired(a, cli, precisions, common, img, env, extras=()):
    probe = run_json(cli + ["bench", "--model", a.model, "--batch-size", "1", "--steps", "1", "--warmup", "0", "--only", "embed",
                            "--peak-size", "0", "--json"] + img)
    config_file = write_config(probe)
    procs = []
    try:
        procs.append(LockstepProcess("official", ["/usr/bin/python3", BASELINE, "--config", config_file, "--lockstep"] + common, env))
        for prefix, command in [("", cli)] + list(extras):
            for p in precisions:
                procs.append(LockstepProcess(f"{prefix}:{p}" if prefix else p,
                                             command + ["bench", "--model", a.model, "--precision", p, "--peak-size", "0",
                                                        "--json", "--lockstep"] + ours(common) + img, os.environ))
        times = run_lockstep(procs, ("train", "embed"), a.gap)
        results = {pr.name: pr.result() for pr in procs}
    finally:
        os.remove(config_file)
        for pr in procs:
            if pr.p.poll() is None:
                pr.p.kill()

    columns = [pr.name for pr in procs[1:]]
    summary = {}
    print(f"\nmodel {probe['model']}, {probe['img_size']} px, batch {a.batch}, {a.threads} threads, paired steps "
          f"(one step of each process per round); img/s median, speed-up = median [quartiles] of per-round ratios")
    print(f"{'':10}{'phase':7}{'rounds':>7}{'official':>10}" + "".join(f"{p:>12}{'× official':>24}" for p in columns))
    for phase, t in times.items():
        off = t["official"]
        row = {"rounds": len(off), "official": {"median_img_per_s": a.batch / statistics.median(off), "step_seconds": off}}
        line = f"{'':10}{phase:7}{len(off):>7}{a.batch / statistics.median(off):>10.2f}"
        for p in columns:
            ratios = [o / x for o, x in zip(off, t[p])]
            q1, med, q3 = quartiles(ratios)
            row[p] = {"median_img_per_s": a.batch / statistics.median(t[p]), "step_seconds": t[p],
                      "speedups": ratios, "speedup_median": med, "speedup_q1": q1, "speedup_q3": q3}
            line += f"{a.batch / statistics.median(t[p]):>12.2f}" + f"{med:.2f}× [{q1:.2f}, {q3:.2f}]".rjust(24)
        summary[phase] = row
        print(line)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"schema": "crate-mae/vs-official/1", "mode": "paired", "args": vars(a), "summary": summary,
                       "runs": results}, f, indent=1)


if __name__ == "__main__":
    main()
