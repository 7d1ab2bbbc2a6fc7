#!/usr/bin/python3
"""Times `crate-mae linprobe` against scikit-learn's LogisticRegression on the same frozen features, side by side.

    /usr/bin/python3 bench/probe_vs_sklearn.py RUN [--crate-mae PATH] [--pool mean|cls|grid] [--layer L]

1. `crate-mae embed` writes the run's train and test features (the same frozen features linprobe reads; cached in
   RUN/eval/cache, so a second run extracts nothing).
2. `crate-mae linprobe --json` runs the whole probe: the λ search on a stratified 10 % validation split (six fits) and
   the refit on all training images; its solver time is what is compared.
3. scikit-learn fits ONE model at the λ linprobe chose (lbfgs, multinomial, standardised features, C = 1 / (λ n),
   the same objective), with its default tolerance and max_iter 1000, and scores the test split.

Prints one table: time and test top-1 of each, and the speed ratio (linprobe's seven fits against sklearn's one).
Needs Debian's python3-sklearn and python3-numpy (scripts/setup.sh installs them).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run", help="run folder or checkpoint")
    ap.add_argument("--crate-mae", default=os.path.join(os.path.dirname(__file__), "..", "src", "CrateMae.Cli", "bin", "Release", "net10.0", "crate-mae"),
                    help="the crate-mae executable (default: the Release build of this clone)")
    ap.add_argument("--pool", default="mean")
    ap.add_argument("--layer", type=int)
    a = ap.parse_args()
    extra = ["--pool", a.pool] + (["--layer", str(a.layer)] if a.layer else [])

    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for split in ("train", "test"):
            paths[split] = os.path.join(tmp, split + ".npy")
            subprocess.run([a.crate_mae, "embed", "--checkpoint", a.run, "--data", "fashion-mnist:" + split, "-o", paths[split], *extra],
                           check=True, stdout=subprocess.DEVNULL)
        probe = json.loads(subprocess.run([a.crate_mae, "linprobe", "--checkpoint", a.run, "--json", *extra],
                                          check=True, capture_output=True, text=True).stdout)
        probe = probe.get("encoder", probe)
        x, y = np.load(paths["train"]), np.load(paths["train"][:-4] + ".labels.npy")
        xt, yt = np.load(paths["test"]), np.load(paths["test"][:-4] + ".labels.npy")

    lam = probe["chosen_reg"]
    scaler = StandardScaler().fit(x.astype(np.float64))
    clock = time.perf_counter()
    model = LogisticRegression(C=1.0 / (lam * len(y)), max_iter=1000).fit(scaler.transform(x.astype(np.float64)), y)
    sk_seconds = time.perf_counter() - clock
    sk_top1 = float((model.predict(scaler.transform(xt.astype(np.float64))) == yt).mean())
    sk_iterations = int(np.max(model.n_iter_))

    print(f"features: {x.shape[0]:,} train × {x.shape[1]}, {xt.shape[0]:,} test ({a.pool} pooling"
          f"{', block ' + str(a.layer) if a.layer else ''}); λ = {lam:g} (chosen by linprobe on validation)")
    print(f"{'':34s} {'seconds':>8s} {'test top-1':>11s}")
    print(f"{'crate-mae linprobe (7 fits)':34s} {probe['seconds']:8.1f} {probe['top1'] * 100:10.2f} %   converged: {probe['converged']}")
    print(f"{'scikit-learn, one fit at λ':34s} {sk_seconds:8.1f} {sk_top1 * 100:10.2f} %   iterations: {sk_iterations}"
          f"{' (max_iter reached)' if sk_iterations >= 1000 else ''}")
    print(f"linprobe's whole search is {sk_seconds / probe['seconds']:.1f}× faster than scikit-learn's single fit; "
          f"top-1 differs by {abs(probe['top1'] - sk_top1) * 100:.2f} points")
    return 0


if __name__ == "__main__":
    sys.exit(main())
