"""Where to put ``recognition.identity_change_below``: embedding similarity of LFW's same-person
and different-person pairs (pairs.txt, 6,000 pairs) through the device path with the shipped model.

    .venv/bin/python bench/bench_identity_change.py [--model models/face_resnet29_int8.tflite]

For each candidate limit: the share of same-person pairs below it (a known person would wrongly
start a new track) and of different-person pairs below it (a stranger stepping in is caught at one
look). LFW's pairs are photos taken years apart, so within one visit same-person looks are closer
still. Needs ../shared; prints JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from converter.embeddings import load_model  # noqa: E402
from converter.evaluate import embed_pairs  # noqa: E402
from converter.lfw import read_pairs  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
LFW = REPO.parent / "shared" / "datasets" / "lfw"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=str(REPO / "models" / "face_resnet29_int8.tflite"))
    args = ap.parse_args()
    if not LFW.is_dir():
        raise SystemExit(f"{LFW} not present (../shared is only in the team's checkout and CI)")
    model = load_model(args.model)
    pairs = read_pairs(LFW / "pairs.txt", LFW / "lfw-deepfunneled")
    a, b, _, _ = embed_pairs(model, pairs)
    same = np.array([p.same for p in pairs])
    similarity = np.sum(a * b, axis=1)
    s, d = similarity[same], similarity[~same]
    print(json.dumps({
        "model": Path(args.model).name, "pairs": len(pairs),
        "same_person_quantiles": {str(q): round(float(np.quantile(s, q)), 3) for q in (0.001, 0.005, 0.01, 0.05)},
        "below_limit": {f"{t:.2f}": {"same_person": round(float((s < t).mean()), 4),
                                     "different_person": round(float((d < t).mean()), 4)}
                        for t in (0.84, 0.85, 0.86, 0.87, 0.88, 0.89, 0.90)},
    }, indent=1))


if __name__ == "__main__":
    main()
