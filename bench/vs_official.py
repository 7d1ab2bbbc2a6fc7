#!/usr/bin/python3
"""Speed against the official CRATE-MAE code, measured in the same time window.

Runs `crate-mae bench` (fp32 and bf16) and the official-form PyTorch baseline (bench/official/crate_mae_official.py,
Debian's PyTorch with OpenBLAS) one after the other, ROUNDS times, and reports per phase (train, embed) the median
img/s of each and the median of the per-round speed-ups. Per-round ratios are what to quote on a shared machine:
neighbours move absolute numbers by ±20 % between minutes, but both sides of a round see the same machine.

    /usr/bin/python3 bench/vs_official.py --model crate-small --batch 8 --steps 8 --rounds 3
    /usr/bin/python3 bench/vs_official.py --model bench/cmp32.json --batch 64 --steps 20 --rounds 3 --json out.json

Needs: a Release build (dotnet build -c Release), python3-torch and an optimised BLAS for it (libopenblas0-pthread;
scripts/setup.sh installs both). The baseline runs with OPENBLAS_CORETYPE=SkylakeX (platform notes P5).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_CLI = os.path.join(ROOT, "src", "CrateMae.Cli", "bin", "Release", "net10.0", "crate-mae")
BASELINE = os.path.join(HERE, "official", "crate_mae_official.py")


def run_json(cmd, env=None):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr.strip()}")
    return json.loads(p.stdout)


def blas_check():
    """Debian's torch falls back to the reference BLAS (~4 GFLOP/s) unless OpenBLAS is installed."""
    alt = "/etc/alternatives/libblas.so.3-x86_64-linux-gnu"
    if os.path.exists(alt) and "openblas" not in os.path.realpath(alt):
        sys.exit(f"{alt} points to {os.path.realpath(alt)}: the baseline would run on the reference BLAS; "
                 "install libopenblas0-pthread (scripts/setup.sh does)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="preset, JSON file or inline JSON (as crate-mae bench --model)")
    ap.add_argument("--img", type=int)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--precisions", default="fp32,bf16", help="comma list of crate-mae precisions")
    ap.add_argument("--crate-mae", default=DEFAULT_CLI, help="the crate-mae executable")
    ap.add_argument("--json", metavar="FILE", help="also write every run and the summary here")
    a = ap.parse_args()
    blas_check()
    if not os.path.exists(a.crate_mae):
        sys.exit(f"--crate-mae {a.crate_mae}: not found (dotnet build -c Release first)")
    precisions = [p.strip() for p in a.precisions.split(",") if p.strip()]
    common = ["--batch", str(a.batch), "--steps", str(a.steps), "--warmup", str(a.warmup), "--threads", str(a.threads)]
    img = ["--img", str(a.img)] if a.img else []
    env = dict(os.environ, OPENBLAS_CORETYPE="SkylakeX")
    runs = {"official": []}
    runs.update({p: [] for p in precisions})
    config_file = None
    try:
        for r in range(a.rounds):
            for p in precisions:
                res = run_json([a.crate_mae, "bench", "--model", a.model, "--precision", p, "--peak-size", "0", "--json"] + common + img)
                runs[p].append(res)
                if config_file is None:
                    cfg = dict(res["config"], img_size=res["img_size"])
                    fd, config_file = tempfile.mkstemp(suffix=".json")
                    with os.fdopen(fd, "w") as f:
                        json.dump(cfg, f)
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
            ours = [x[phase]["median_img_per_s"] for x in runs[p]]
            ratios = [o / b for o, b in zip(ours, off)]
            row[p] = {"median": statistics.median(ours), "min": min(ours), "max": max(ours),
                      "speedup_median": statistics.median(ratios), "speedups": ratios}
            line += f"{statistics.median(ours):>10.1f} [{min(ours):.1f}–{max(ours):.1f}]".ljust(22) + f"{statistics.median(ratios):>10.2f}×"
        summary[phase] = row
        print(line)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"schema": "crate-mae/vs-official/1", "args": vars(a), "summary": summary, "runs": runs}, f, indent=1)


if __name__ == "__main__":
    main()
