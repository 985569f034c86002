"""Which photos are taken for false-colour renderings: all of LFW must be none, the seed's database all.

    .venv/bin/python bench/bench_falsecolour.py > docs/results/bench_falsecolour.json

Runs :func:`edge.vision.falsecolour.colormap_of` — what ``identify`` and enrolment run on every
photo — over every LFW image and the seed's photos, and prints the counts as JSON.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.vision.falsecolour import colormap_of  # noqa: E402
from edge.vision.imageio import read_image  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared"


def count(paths: list[Path], desc: str) -> dict:
    found = Counter()
    flagged = []
    for p in tqdm(paths, desc=desc, unit="img", file=sys.stderr):
        name = colormap_of(read_image(p))
        if name:
            found[name] += 1
            flagged.append(str(p.relative_to(SHARED)))
    return {"images": len(paths), "flagged": len(flagged), "by_colormap": dict(found), "which": flagged[:20]}


def main() -> None:
    seed = SHARED / "samples" / "seed"
    out = {
        "LFW (all, colour photos)": count(sorted((SHARED / "datasets/lfw/lfw-deepfunneled").glob("*/*.jpg")), "LFW"),
        "seed database/ (false colour)": count(sorted((seed / "database").glob("*")), "database"),
        "seed eval/ (colour crops)": count(sorted(p for p in (seed / "eval").glob("*/*") if p.is_file()), "eval"),
        "seed sample/ (group photos)": count(sorted((seed / "sample").glob("*.jpg")), "sample"),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
