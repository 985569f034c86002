"""How often the gallery warns that a photo would be taken for somebody else (or cannot be told from
somebody else's), on galleries the size of a household's, and what the check costs.

    .venv/bin/python bench/bench_gallery_lookalikes.py > docs/results/gallery_lookalikes.json

Photos are embedded once by the product's own ``gallery.sync.Gallery`` (every LFW person with four
or more photos, their first eight, as in ``bench_gallery_outliers.py``). Then seeded random
galleries of ``PEOPLE`` LFW people each are checked with ``gallery.lookalikes.lookalikes`` on the
matcher the product would build (shipped threshold and margin). LFW's people are strangers to each
other, so every warning there is one a user would not have needed (or one of LFW's few mislabelled
photos). Also: the seed's ``eval/`` folder as a gallery, and the check's time at ``MAX_ROWS`` photos.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_gallery_outliers import LFW, SEED_EVAL, lfw_gallery  # noqa: E402
from edge.vision.pipeline import Recognizer  # noqa: E402
from gallery.lookalikes import MAX_ROWS, lookalikes  # noqa: E402
from gallery.sync import Gallery  # noqa: E402

PEOPLE = 10
GALLERIES = 500
SEED = 0


def households(recognizer: Recognizer, names: list[str], matrix: np.ndarray) -> dict:
    rng = np.random.default_rng(SEED)
    everyone = sorted(set(names))
    rows_of = {p: [i for i, n in enumerate(names) if n == p] for p in everyone}
    photos = flagged = galleries_flagged = named_other = 0
    pairs: dict[str, int] = {}
    for _ in range(GALLERIES):
        chosen = rng.choice(len(everyone), PEOPLE, replace=False)
        rows = [i for k in chosen for i in rows_of[everyone[k]]]
        found = lookalikes(recognizer.make_matcher([names[i] for i in rows], matrix[rows]))
        photos += len(rows)
        flagged += len(found)
        named_other += sum(f.named_other for f in found)
        galleries_flagged += bool(found)
        for f in found:
            pair = " / ".join(sorted((f.person, f.other)))
            pairs[pair] = pairs.get(pair, 0) + 1
    return {"galleries": GALLERIES, "people_each": PEOPLE, "photos_checked": photos,
            "photos_warned": flagged, "photos_warned_percent": round(100 * flagged / photos, 3),
            "of_which_named_as_other": named_other,
            "galleries_with_a_warning_percent": round(100 * galleries_flagged / GALLERIES, 2),
            "pairs": dict(sorted(pairs.items(), key=lambda kv: -kv[1]))}


def main() -> None:
    if not LFW.is_dir():
        sys.exit(f"{LFW} not found (../shared is only in the team's checkout)")
    recognizer = Recognizer(detector_model="full")
    with tempfile.TemporaryDirectory() as tmp:
        matcher, _ = Gallery(recognizer, lfw_gallery(Path(tmp) / "lfw")).sync(progress=True)
    names, matrix = matcher.row_names, matcher.matrix
    out = {"threshold": recognizer.decision.threshold, "margin": recognizer.decision.margin,
           "lfw_photos": len(names), "lfw_people": len(set(names)),
           "lfw_households": households(recognizer, names, matrix)}
    timed = recognizer.make_matcher(names[:MAX_ROWS], matrix[:MAX_ROWS])
    t0 = time.perf_counter()
    lookalikes(timed)
    out[f"seconds for {MAX_ROWS} photos (this machine)"] = round(time.perf_counter() - t0, 2)
    _, report = Gallery(recognizer, SEED_EVAL).sync(progress=True)
    warned = [{"file": str(Path(f.path).relative_to(SEED_EVAL)), "warning": f.warning}
              for f in report.files if "gallery would take" in f.warning or "too like" in f.warning]
    out["seed_eval"] = {"enrolled": sum(f.state == "enrolled" for f in report.files), "warned": len(warned),
                        "photos": warned}
    print(json.dumps(out, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
