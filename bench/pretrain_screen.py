#!/usr/bin/python3
"""The pre-training screen of docs/recipes.md: the default recipe with one change each, every run read the same way.

    /usr/bin/python3 bench/pretrain_screen.py [--only base,mask05,...] [--runs runs] [--prefix screen-]
                                              [--crate-mae PATH] [--table-only]

Every setting pre-trains crate-fmnist for the default's 2 epochs (936 steps), or, where the change makes a step
cheaper (decoder depth, patch size), for the same wall-clock time as the baseline: `--minutes` set to the time the
baseline's calibration gives 936 steps, so the run trains what fits. Each run is then read at encoder block 3 with
quadrant pooling (the recipe's readout):
  - `linprobe --layer 3 --pool grid --reg 1e-5,1e-4,1e-3`: validation and test top-1 (λ chosen on validation);
  - `knn --layer 3 --pool grid --whiten 0,64,128,256,384`: validation top-1 of the plain and whitened k-NN, the
    whitening chosen on validation, and its test top-1.
Choices are read from the validation columns; the test columns are scored once per setting.

Runs go to RUNS/PREFIX<name>; results to RUNS/PREFIX<name>/screen/. A step whose output exists is skipped, so an
interrupted screen continues where it stopped and --table-only prints the table of what has run. Prints one markdown
table. Runs one setting at a time on every core; about 10 minutes a setting on 2 cores.
"""
import argparse
import json
import os
import subprocess
import sys

# name → (what changes, model config overrides, pretrain options, None for equal steps or, for equal wall-clock time,
# the --epochs that the time budget cuts down: the warm-up is min(1, epochs / 8) epochs, shortened with the cut)
SETTINGS = {
    "base": ("none (the default)", {}, [], None),
    "lambd01": ("ISTA λ 0.1 (the book) instead of 0.5 (the code)", {"lambd": 0.1}, [], None),
    "eta02": ("ISTA step η 0.2 instead of 0.1", {"eta": 0.2}, [], None),
    "mask05": ("mask ratio 0.5 instead of 0.75", {}, ["--mask-ratio", "0.5"], None),
    "mask03": ("mask ratio 0.3", {}, ["--mask-ratio", "0.3"], None),
    "dec2": ("decoder depth 2 instead of 6 (crate-fmnist-d2), same time", {"decoder_depth": 2}, [], 8),
    "patch7": ("patch 7 (16 patches) instead of 4 (49), same time", {"patch_size": 7}, [], 20),
    "crop1": ("no random-resized crop (--min-crop-scale 1)", {}, ["--min-crop-scale", "1"], None),
}
STEPS = 936          # 2 epochs of 468 steps of 128
WHITEN = "0,64,128,256,384"


def run(cmd):
    print("$ " + " ".join(cmd), file=sys.stderr, flush=True)
    subprocess.run(cmd, check=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", help="comma list of settings (default: all, baseline first)")
    ap.add_argument("--runs", default="runs", help="folder of the run folders (default runs)")
    ap.add_argument("--prefix", default="screen-", help="run folder name prefix (default screen-)")
    ap.add_argument("--crate-mae", default="src/CrateMae.Cli/bin/Release/net10.0/crate-mae")
    ap.add_argument("--table-only", action="store_true", help="print the table of the runs done so far; run nothing")
    a = ap.parse_args()
    names = a.only.split(",") if a.only else list(SETTINGS)
    for n in names:
        if n not in SETTINGS:
            sys.exit(f"--only: unknown setting '{n}'; known: {', '.join(SETTINGS)}")
    folder = lambda n: os.path.join(a.runs, a.prefix + n)
    if not a.table_only:
        order = sorted(names, key=lambda n: n != "base")   # the baseline first: equal-time settings need its calibration
        if order[0] != "base" and not os.path.exists(os.path.join(folder("base"), "config.json")):
            order.insert(0, "base")
        for n in order:
            screen(a, n, folder(n), folder("base"))
    print(table(["base"] + [n for n in names if n != "base"], folder))   # the baseline row is the reference


def screen(a, name, run_dir, base_dir):
    _, overrides, options, budget_epochs = SETTINGS[name]
    out = os.path.join(run_dir, "screen")
    if not os.path.exists(os.path.join(run_dir, "summary.json")):
        cmd = [a.crate_mae, "pretrain", "-o", run_dir] + options
        if overrides:
            info = json.loads(subprocess.run([a.crate_mae, "info", "--model", "crate-fmnist", "--json"], check=True,
                                             capture_output=True, text=True).stdout)
            config = dict(info["config"], name=f"crate-fmnist-{name}", **overrides)
            os.makedirs(a.runs, exist_ok=True)
            path = os.path.join(a.runs, f"{a.prefix}{name}.model.json")
            with open(path, "w") as f:
                json.dump(config, f, indent=1)
            cmd += ["--model", path]
        if name == "base":
            cmd += ["--epochs", "2", "--minutes", "30"]   # the whole 936 steps; the calibration is recorded
        elif budget_epochs:
            calibration = json.load(open(os.path.join(base_dir, "config.json")))["training"]["calibration"]
            minutes = STEPS * 128 / calibration["images_per_second"] / 60
            cmd += ["--epochs", str(budget_epochs), "--minutes", f"{minutes:.2f}"]
        else:
            cmd += ["--epochs", "2", "--minutes", "0"]
        run(cmd)
    os.makedirs(out, exist_ok=True)
    probe, knn = os.path.join(out, "linprobe.json"), os.path.join(out, "knn.json")
    if not os.path.exists(probe):
        run([a.crate_mae, "linprobe", "--checkpoint", run_dir, "--layer", "3", "--pool", "grid",
             "--reg", "1e-5,1e-4,1e-3", "-o", probe])
    if not os.path.exists(knn):
        run([a.crate_mae, "knn", "--checkpoint", run_dir, "--layer", "3", "--pool", "grid", "--whiten", WHITEN, "-o", knn])


def table(names, folder):
    rows = ["| change | steps | pre-training wall | probe val / test | k-NN val, plain | k-NN val / test, whitened (K) |",
            "|---|---|---|---|---|---|"]
    for n in names:
        d = folder(n)
        try:
            summary = json.load(open(os.path.join(d, "summary.json")))
            probe = json.load(open(os.path.join(d, "screen", "linprobe.json")))
            knn = json.load(open(os.path.join(d, "screen", "knn.json")))
        except FileNotFoundError:
            continue
        pv = max(p["val_top1"] for p in probe["val_curve"])
        plain = next(p["val_top1"] for p in knn["whiten_curve"] if p["components"] == 0)
        rows.append(f"| {SETTINGS[n][0]} | {summary['steps']:,} | {summary['wall_seconds'] / 60:.1f} min "
                    f"| {100 * pv:.2f} / {100 * probe['top1']:.2f} % | {100 * plain:.2f} % "
                    f"| {100 * knn['val_top1']:.2f} / {100 * knn['top1']:.2f} % ({knn.get('whiten') or 0}) |")
    return "\n".join(rows)


if __name__ == "__main__":
    main()
