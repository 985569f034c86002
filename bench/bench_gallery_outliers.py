"""How often the gallery names a photo as "looks unlike <person>'s other photos", and which.

    .venv/bin/python bench/bench_gallery_outliers.py > docs/results/gallery_outliers.json

Two galleries, synced by the product's own ``gallery.sync.Gallery`` (what the daemon and
``gallery status`` run): every LFW person with four or more photos, their first eight each (the
size of a household's folders; LFW's labels are known to hold a few mistakes), and the seed's
``eval/`` folder. Reports the photos that had at least two others to be compared with, those named,
and each named photo with its warning.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.vision.pipeline import Recognizer  # noqa: E402
from gallery.outliers import MIN_OTHERS, UNLIKE_BELOW  # noqa: E402
from gallery.sync import Gallery  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared"
LFW = SHARED / "datasets" / "lfw" / "lfw-deepfunneled"
SEED_EVAL = SHARED / "samples" / "seed" / "eval"
MIN_PHOTOS, MAX_PHOTOS = 4, 8


def lfw_gallery(dest: Path) -> Path:
    """LFW people with at least MIN_PHOTOS photos, their first MAX_PHOTOS, copied (the gallery
    follows no link that leads outside it)."""
    for person in sorted(p for p in LFW.iterdir() if p.is_dir()):
        photos = sorted(person.glob("*.jpg"))
        if len(photos) >= MIN_PHOTOS:
            (dest / person.name).mkdir(parents=True)
            for photo in photos[:MAX_PHOTOS]:
                shutil.copyfile(photo, dest / person.name / photo.name)
    return dest


def measure(recognizer: Recognizer, folder: Path, root: Path) -> dict:
    _, report = Gallery(recognizer, folder).sync(progress=True)
    enrolled = [f for f in report.files if f.state == "enrolled"]
    counts: dict[str, int] = {}
    for f in enrolled:
        counts[f.person] = counts.get(f.person, 0) + 1
    compared = sum(n for n in counts.values() if n >= MIN_OTHERS + 1)
    named = [{"file": str(Path(f.path).relative_to(root)), "warning": f.warning}
             for f in enrolled if "looks unlike" in f.warning]
    return {"people": len(counts), "enrolled": len(enrolled), "compared": compared, "named": len(named),
            "named_percent": round(100 * len(named) / max(compared, 1), 3), "photos": named}


def main() -> None:
    if not LFW.is_dir():
        sys.exit(f"{LFW} not found (../shared is only in the team's checkout)")
    recognizer = Recognizer(detector_model="full")
    with tempfile.TemporaryDirectory() as tmp:
        lfw = measure(recognizer, lfw_gallery(Path(tmp) / "lfw"), Path(tmp) / "lfw")
    seed = measure(recognizer, SEED_EVAL, SEED_EVAL)
    print(json.dumps({"unlike_below": UNLIKE_BELOW, "min_others": MIN_OTHERS,
                      "lfw": {"min_photos": MIN_PHOTOS, "max_photos": MAX_PHOTOS, **lfw}, "seed_eval": seed},
                     indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
