"""Detector quality on the shared data: recall on labelled group photos (full range with its input
fitted to each photo's aspect, the default, and with the square input), on 640×480 mosaics of LFW
faces (the 4:3 input at 192×144 against 192×160), LFW face-found rate over
every image, and false positives on a photo of dogs (detector alone and after FaceMesh confirmation).

    .venv/bin/python bench/bench_detector.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from converter.detection_eval import (  # noqa: E402
    camera_frames,
    false_positives,
    frames_recall,
    labelled_recall,
    lfw_found_rate,
    small_views,
)
from edge.vision.card import AlignmentSpec  # noqa: E402
from edge.vision.detector import FaceDetector  # noqa: E402
from edge.vision.imageio import read_image  # noqa: E402
from edge.vision.preprocess import FacePreprocessor  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared"


def main() -> None:
    groups = SHARED / "samples/groups"
    out = {}
    for model in ("full", "short", "auto"):
        out[f"testing.xml recall ({model})"] = labelled_recall(FaceDetector(model), groups / "testing.xml")
    # the full range input shaped like each photo (the default) against the 192×192 square
    for xml in ("testing.xml", "training.xml"):
        for fit in (True, False):
            name = "input fitted to the photo" if fit else "square input"
            out[f"{xml} recall (full, {name})"] = labelled_recall(FaceDetector("full", fit_frame=fit), groups / xml)
    # 4:3 camera frames: the input fitted to the frame (192×144, a SLICE after the first upsampling)
    # against the inputs that need none (192×160: the frame letterboxed onto 16 more rows)
    frames = camera_frames(SHARED / "datasets/lfw/lfw-deepfunneled")
    for granule, name in ((16, "192×144, fitted"), (32, "192×160, bars")):
        out[f"640×480 LFW mosaics recall ({name})"] = frames_recall(FaceDetector("full", granule=granule), frames)
    auto = FaceDetector("auto")
    r = lfw_found_rate(auto, SHARED / "datasets/lfw/lfw-deepfunneled")
    out["LFW face found (auto)"] = {k: r[k] for k in ("found_rate", "images")} | {"missed": r["missed"][:10]}
    out["dogs.jpg false positives (detector)"] = false_positives(auto, groups / "dogs.jpg")
    pre = FacePreprocessor(AlignmentSpec(), detector=auto)
    out["dogs.jpg faces after FaceMesh confirmation"] = len(pre.faces(read_image(groups / "dogs.jpg")))
    # the seed's eval/: 100×100 photos that are themselves tight face crops (small photos with no face
    # found get a second look inside a border)
    photos = sorted(p for p in (SHARED / "samples/seed/eval").glob("*/*") if p.is_file())
    missed = [str(p.relative_to(SHARED)) for p in photos if not pre.faces(read_image(p), tile=0)]
    out["seed eval/ face found (photos)"] = {"photos": len(photos), "missed": len(missed), "which": missed}
    # small photos with no face: every 100×100 view of dogs.jpg takes the border and red/blue-swapped
    # retries before it is called faceless
    views = small_views(read_image(groups / "dogs.jpg"))
    out["dogs.jpg 100-px views: faces found"] = {"views": len(views),
                                                 "faces": sum(len(pre.faces(v, tile=0)) for v in views)}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
