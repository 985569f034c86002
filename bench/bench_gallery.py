"""Gallery sync at scale: enroll N LFW photos (1 thread), then re-sync the unchanged folder.

    .venv/bin/python bench/bench_gallery.py [--images 2000] [--lfw ../shared/datasets/lfw/lfw-deepfunneled]

Photos are copied into a temporary gallery (people with the most photos first), so
the numbers include reading and hashing every file.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.vision.pipeline import Recognizer  # noqa: E402
from gallery.sync import Gallery  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--lfw", default=str(REPO.parent / "shared/datasets/lfw/lfw-deepfunneled"))
    args = ap.parse_args()
    people = sorted(Path(args.lfw).iterdir(), key=lambda d: (-len(list(d.iterdir())), d.name))
    with tempfile.TemporaryDirectory() as tmp:
        g = Path(tmp) / "gallery"
        n = 0
        for d in people:
            if n >= args.images:
                break
            files = sorted(d.glob("*.jpg"))[: args.images - n]
            (g / d.name.replace("_", " ")).mkdir(parents=True)
            for f in files:
                shutil.copy(f, g / d.name.replace("_", " ") / f.name)
            n += len(files)
        rec = Recognizer(num_threads=1)
        gallery = Gallery(rec, g, Path(tmp) / "state")
        t0 = time.perf_counter()
        matcher, report = gallery.sync(progress=True)
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        _, again = Gallery(rec, g, Path(tmp) / "state").sync()
        resync = time.perf_counter() - t0
        enrolled = sum(f.state == "enrolled" for f in report.files)
        print(json.dumps({"images": n, "people": len(matcher), "enrolled": enrolled,
                          "rejected": n - enrolled, "first_sync_s": round(first, 2),
                          "images_per_s": round(n / first, 1), "resync_unchanged_s": round(resync, 3),
                          "resync_embedded": again.embedded}, indent=2))


if __name__ == "__main__":
    main()
