#!/usr/bin/env python3
"""Compares `scan` binaries on one file: the least CPU time (user + sys) of N interleaved runs each.

    python3 bench/discovery/compare.py 10 bench/discovery/corpus/pii.txt OLD_SCAN NEW_SCAN

Interleaving and taking the best run is what makes a before/after comparison meaningful on a
machine whose speed drifts from minute to minute (this one's varies by a third). Build a binary
with `cargo build --release -p palisade-discovery --example scan` and copy it aside before
changing the code.
"""

import os
import resource
import subprocess
import sys


def cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    n, path, bins = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
    best = {b: float("inf") for b in bins}
    for _ in range(n):
        for b in bins:
            c = cpu()
            subprocess.run(
                [b, "--format", "jsonl", "--threads", "1", "--no-progress", "--max-file-size", "4G", path],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            best[b] = min(best[b], cpu() - c)
    size = os.path.getsize(path)
    for b in bins:
        print(f"{b}: {best[b]:.3f} s, {size / 1e6 / best[b]:.0f} MB/s")


if __name__ == "__main__":
    main()
