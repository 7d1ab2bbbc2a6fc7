#!/usr/bin/python3
"""A/B of process-level settings: two `crate-mae bench --lockstep` processes that differ in environment variables or build.

Settings that are fixed when a process starts (OpenMP wait policy and spin count, allocator, MALLOC_CONF, thread
counts) cannot be switched inside one process like the kernels of `bench/CrateMae.Bench -- ab`. This runs both
processes side by side and lets one step run at a time: each process's warm-up alone, then rounds of one timed step of
A and one of B (the order reversed every round, a short pause after each step), and reports the median [quartiles] of
the per-round ratios time A / time B, for training and feature extraction.

    /usr/bin/python3 bench/ab_env.py --a OMP_WAIT_POLICY=PASSIVE --b OMP_WAIT_POLICY=ACTIVE --model crate-small --batch 8 --steps 20 --precision bf16

Both processes get the CLI's own settings unless the variable is given (an empty value, NAME=, removes it for that
side). Needs a Release build (dotnet build -c Release). `--b-crate-mae` runs side B from another build instead (two
commits compared step by step, e.g. a `git worktree` of the previous commit):

    /usr/bin/python3 bench/ab_env.py --b-crate-mae "dotnet /tmp/prev/src/CrateMae.Cli/bin/Release/net10.0/crate-mae.dll" --model crate-small --batch 8 --steps 30 --only train
"""
import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vs_official import (DEFAULT_CLI, LockstepProcess, auto_precision, crate_mae_command, quartiles,  # noqa: E402
                         run_lockstep)


def parse_env(items, flag):
    env = {}
    for item in items:
        if "=" not in item:
            sys.exit(f"{flag} {item}: expected NAME=VALUE")
        k, v = item.split("=", 1)
        env[k] = v
    return env


def side_env(changes):
    env = dict(os.environ)
    for k, v in changes.items():
        if v == "":
            env.pop(k, None)
        else:
            env[k] = v
    return env


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--a", action="append", default=[], metavar="NAME=VALUE", help="environment of side A (repeatable)")
    ap.add_argument("--b", action="append", default=[], metavar="NAME=VALUE", help="environment of side B (repeatable)")
    ap.add_argument("--model", required=True)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--precision", default=auto_precision(),
                    help="fp32 or bf16 (default: bf16 on a CPU with bf16 instructions, else fp32)")
    ap.add_argument("--only", choices=["train", "embed"])
    # A pause after each step lets the OpenMP workers of the side that just ran stop spinning (under OMP_WAIT_POLICY=ACTIVE
    # or a GOMP_SPINCOUNT) before the other side's step starts.
    ap.add_argument("--gap", type=float, default=0.5, help="seconds of pause after each step (default 0.5)")
    ap.add_argument("--crate-mae", default=DEFAULT_CLI)
    ap.add_argument("--b-crate-mae", help="side B's crate-mae (path or command line; default: --crate-mae)")
    a = ap.parse_args()
    if a.steps < 1:
        sys.exit("--steps: expected an integer ≥ 1")
    ea, eb = parse_env(a.a, "--a"), parse_env(a.b, "--b")
    args = ["bench", "--model", a.model, "--batch-size", str(a.batch), "--steps", str(a.steps), "--warmup", str(a.warmup),
            "--threads", str(a.threads), "--precision", a.precision, "--peak-size", "0", "--json", "--lockstep"]
    if a.only:
        args += ["--only", a.only]
    cli_a = crate_mae_command(a.crate_mae)
    cli_b = crate_mae_command(a.b_crate_mae, f"--b-crate-mae {a.b_crate_mae}") if a.b_crate_mae else cli_a
    cmd_a, cmd_b = cli_a + args, cli_b + args
    procs = [LockstepProcess("A", cmd_a, side_env(ea)), LockstepProcess("B", cmd_b, side_env(eb))]
    try:
        times = run_lockstep(procs, [a.only] if a.only else ["train", "embed"], a.gap)
        for pr in procs:
            pr.result()
    finally:
        for pr in procs:
            if pr.p.poll() is None:
                pr.p.kill()
    print(f"A: {' '.join(a.a) or '(CLI defaults)'}\nB: {' '.join(a.b) or '(CLI defaults)'}"
          + (f", build {a.b_crate_mae}" if a.b_crate_mae else ""))
    for phase, t in times.items():
        ratios = [x / y for x, y in zip(t["A"], t["B"])]
        q1, med, q3 = quartiles(ratios)
        print(f"{phase}: A {a.batch / statistics.median(t['A']):.2f} img/s, B {a.batch / statistics.median(t['B']):.2f} img/s; "
              f"time A / time B median {med:.3f} [quartiles {q1:.3f}, {q3:.3f}] over {len(ratios)} rounds (> 1: B faster)")


if __name__ == "__main__":
    main()
