#!/usr/bin/python3
"""Pools the per-round ratios of several `vs_official.py --paired --json` runs of the same model and batch.

One paired run gives the median [quartiles] of its own 30–40 rounds; the machine's state changes between runs (the
official code trained crate-small at 224 px at 1.26–1.76 img/s on different days), so the figure to quote over several
runs is the median of all their rounds. Each run's official img/s is listed too, as the state indicator.

    /usr/bin/python3 bench/pool_paired.py vs224-a.json vs224-b.json vs224-c.json
"""
import argparse
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vs_official import quartiles  # noqa: E402


def load(path):
    try:
        with open(path) as f:
            d = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        sys.exit(f"{path}: cannot read a vs_official.py JSON result ({e})")
    if d.get("schema") != "crate-mae/vs-official/1" or d.get("mode") != "paired":
        sys.exit(f"{path}: expected the JSON of a `vs_official.py --paired --json` run (schema crate-mae/vs-official/1, "
                 f"mode paired), got schema {d.get('schema')!r}, mode {d.get('mode')!r}")
    return d


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", metavar="JSON", help="results of vs_official.py --paired --json")
    a = ap.parse_args()
    runs = [(path, load(path)) for path in a.runs]
    first_path, first = runs[0]
    key = lambda d: (d["args"]["model"], d["args"].get("img"), d["args"]["batch"], d["args"]["threads"])
    for path, d in runs[1:]:
        if key(d) != key(first):
            sys.exit(f"{path}: model, image size, batch and threads {key(d)} differ from {first_path}'s {key(first)}")
    model, img, batch, threads = key(first)
    print(f"model {model}{f', {img} px' if img else ''}, batch {batch}, {threads} threads: {len(runs)} paired runs pooled; "
          "speed-up = median [quartiles] of all per-round ratios official seconds / our seconds")
    for phase in ("train", "embed"):
        present = [(p, d["summary"][phase]) for p, d in runs if phase in d["summary"]]
        if not present:
            continue
        columns = [c for c in present[0][1] if c not in ("rounds", "official")]
        official = ", ".join(f"{s['official']['median_img_per_s']:.2f}" for _, s in present)
        line = f"  {phase}: {sum(s['rounds'] for _, s in present)} rounds, official img/s per run {official};"
        for c in columns:
            ratios = [r for _, s in present if c in s for r in s[c]["speedups"]]
            q1, med, q3 = quartiles(ratios)
            line += f" {c} {med:.2f}× [{q1:.2f}, {q3:.2f}]"
        print(line)


if __name__ == "__main__":
    main()
