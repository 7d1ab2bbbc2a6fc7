#!/usr/bin/python3
"""How closely one pretraining run tracks another, from their run folders' metrics.jsonl (e.g. bf16 against fp32).

Prints, for runs A and B: the mean logged training loss per window of steps and B's relative gap to A, the largest and
the last gap, the test loss after every epoch, and memory over the run (RSS range and the live-tensor counts of the
logged steps from --from-step on, plus the first logged step's RSS).

    crate-mae pretrain --precision fp32 --batch-size 32 --limit 32000 --epochs 2 --warmup-epochs 0.25 --output runs/track-fp32
    crate-mae pretrain --precision bf16 --batch-size 32 --limit 32000 --epochs 2 --warmup-epochs 0.25 --output runs/track-bf16
    /usr/bin/python3 bench/track_runs.py runs/track-fp32 runs/track-bf16 --window 200
"""
import argparse
import json
import os
import sys


def load(run):
    path = os.path.join(run, "metrics.jsonl") if os.path.isdir(run) else run
    try:
        with open(path) as f:
            rows = [json.loads(line) for line in f if line.strip()]
    except (OSError, json.JSONDecodeError) as e:
        sys.exit(f"{path}: cannot read a run's metrics.jsonl ({e})")
    steps = [r for r in rows if r.get("type") == "step" and "loss" in r]
    if not steps:
        sys.exit(f"{path}: no logged training steps (lines with \"type\": \"step\")")
    return path, steps, [r for r in rows if r.get("type") == "epoch"]


def windows(steps, width):
    out = {}
    for r in steps:
        out.setdefault((r["step"] - 1) // width, []).append(r["loss"])
    return {k: sum(v) / len(v) for k, v in out.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a", help="run folder (or its metrics.jsonl) of the reference run")
    ap.add_argument("b", help="run folder (or its metrics.jsonl) of the run compared with it")
    ap.add_argument("--window", type=int, default=200, help="steps per window (default 200)")
    ap.add_argument("--from-step", type=int, default=0, help="memory from this step on (default: all logged steps)")
    a = ap.parse_args()
    if a.window < 1:
        sys.exit(f"--window {a.window}: expected a number of steps ≥ 1")
    (pa, sa, ea), (pb, sb, eb) = load(a.a), load(a.b)
    wa, wb = windows(sa, a.window), windows(sb, a.window)
    common = sorted(set(wa) & set(wb))
    if not common:
        sys.exit(f"{pb}: no window of {a.window} steps in common with {pa}")
    gaps = {k: (wb[k] - wa[k]) / wa[k] for k in common}
    print(f"A {pa}\nB {pb}")
    print(f"mean training loss per {a.window}-step window, A → B (gap):")
    for k in common:
        print(f"  steps {k * a.window + 1}–{(k + 1) * a.window}: {wa[k]:.4f} → {wb[k]:.4f} ({100 * gaps[k]:+.1f} %)")
    worst = max(common, key=lambda k: abs(gaps[k]))
    print(f"largest gap {100 * gaps[worst]:+.1f} % (steps {worst * a.window + 1}–{(worst + 1) * a.window}), "
          f"last window {100 * gaps[common[-1]]:+.1f} %")
    ta = {r["epoch"]: r["test_loss"] for r in ea if "test_loss" in r}
    tb = {r["epoch"]: r["test_loss"] for r in eb if "test_loss" in r}
    for e in sorted(set(ta) & set(tb)):
        when = "before training" if e == 0 else f"after epoch {e}"
        print(f"test loss {when}: {ta[e]:.4f} → {tb[e]:.4f} ({100 * (tb[e] - ta[e]) / ta[e]:+.2f} %)")
    for name, path, steps in (("A", pa, sa), ("B", pb, sb)):
        later = [r for r in steps if r["step"] >= a.from_step and "rss_mb" in r]
        if not later:
            print(f"{name}: no memory figures from step {a.from_step} on")
            continue
        rss = [r["rss_mb"] for r in later]
        live = sorted({r["live_tensors"] for r in later if "live_tensors" in r})
        print(f"{name}: RSS {min(rss):.0f}–{max(rss):.0f} MB over steps {later[0]['step']}–{later[-1]['step']} "
              f"(step {steps[0]['step']}: {steps[0].get('rss_mb', float('nan')):.0f} MB), live tensors {live}")


if __name__ == "__main__":
    main()
