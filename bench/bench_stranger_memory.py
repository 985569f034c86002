"""What the daemon's stranger memory costs: loading the snapshots folder at start, and one
``unknown`` announcement (save the snapshot, list the folder, read its sidecar, score the face
against the others, group its stranger) — both in the recognition thread.

The worst case is measured on purpose: every snapshot in the folder is of one stranger (a
neighbour who passes the door all day), so the announcement groups all of them (average linkage
over n snapshots costs about n² steps). Faces are seeded random unit vectors around one centre with the
shipped model's size, scored with its matcher and decision; real snapshot files in a temporary
folder (a tiny frame: only the sidecar is read back). Median of ``--rounds``, 1 thread.

    .venv/bin/python bench/bench_stranger_memory.py --json docs/results/bench_stranger_memory.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.snapshots import Snapshots  # noqa: E402
from edge.strangers import StrangerMemory  # noqa: E402
from edge.vision.pipeline import Recognizer  # noqa: E402

FRAME = np.zeros((8, 8, 3), np.uint8)


def one_stranger(rng: np.random.Generator, centre: np.ndarray) -> list[float]:
    face = centre + rng.normal(scale=0.05, size=len(centre))
    return [float(v) for v in face / np.linalg.norm(face)]


def measure(recognizer: Recognizer, kept: int, rng: np.random.Generator) -> tuple[float, float, int]:
    """(seconds to load a folder of ``kept`` snapshots, seconds for the next announcement, its count)."""
    size = recognizer.embedder.card.embedding_size
    centre = rng.normal(size=size)
    with tempfile.TemporaryDirectory() as tmp:
        snaps = Snapshots(Path(tmp), max_count=kept + 1)
        for k in range(kept):
            snaps.save(FRAME, (2, 2, 4, 4), "unknown", k, {"embedding": one_stranger(rng, centre), "model": "bench"})
        t0 = time.perf_counter()
        memory = StrangerMemory(snaps, "bench", size, recognizer.make_matcher)
        memory.sync()
        t1 = time.perf_counter()
        path = snaps.save(FRAME, (2, 2, 4, 4), "unknown", kept, {"embedding": one_stranger(rng, centre),
                                                                  "model": "bench"})
        memory.sync()
        count, _ = memory.seen_before(path.stem)
        t2 = time.perf_counter()
    return t1 - t0, t2 - t1, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kept", type=int, nargs="+", default=[50, 500, 1000],
                        help="snapshots of the stranger already in the folder (500: the default max_count)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", help="write the results here too")
    args = parser.parse_args()
    recognizer = Recognizer(detector_model="full")
    rng = np.random.default_rng(0)
    rows = []
    for kept in args.kept:
        runs = [measure(recognizer, kept, rng) for _ in range(args.rounds)]
        rows.append({"snapshots_of_the_stranger_kept": kept,
                     "load_at_start_ms": round(statistics.median(r[0] for r in runs) * 1e3, 1),
                     "announcement_ms": round(statistics.median(r[1] for r in runs) * 1e3, 1),
                     "seen_before": runs[0][2]})
        print(json.dumps(rows[-1]), file=sys.stderr)
    out = {"machine": f"{platform.machine()}, {platform.processor() or platform.system()}",
           "python": platform.python_version(), "rounds": args.rounds, "threshold": recognizer.decision.threshold,
           "results": rows}
    text = json.dumps(out, indent=1)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
