"""Detector evaluation: recall on hand-labelled boxes (dlib's XML format), LFW face-found rate, and
false positives on a photo without faces."""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from edge.vision.boxes import iou
from edge.vision.detector import FaceDetector
from edge.vision.imageio import read_image


@dataclass(frozen=True)
class LabelledImage:
    path: Path
    boxes: list[tuple[float, float, float, float]]  # (x, y, w, h)
    ignore: list[tuple[float, float, float, float]]


def read_dlib_xml(path: str | Path) -> list[LabelledImage]:
    root = Path(path).parent
    out = []
    for image in ET.parse(path).getroot().iter("image"):
        boxes, ignore = [], []
        for b in image.iter("box"):
            box = (float(b.get("left")), float(b.get("top")), float(b.get("width")), float(b.get("height")))
            (ignore if b.get("ignore") == "1" else boxes).append(box)
        out.append(LabelledImage(root / image.get("file"), boxes, ignore))
    return out


def labelled_recall(detector: FaceDetector, xml: str | Path, min_iou: float = 0.4) -> dict:
    """Greedy one-to-one matching of detections to labelled boxes at IoU ≥ ``min_iou``."""
    return frames_recall(detector, ((read_image(item.path), item.boxes, item.ignore) for item in read_dlib_xml(xml)),
                         min_iou)


def frames_recall(detector: FaceDetector, frames: Iterable[tuple[np.ndarray, list, list]],
                  min_iou: float = 0.4) -> dict:
    """:func:`labelled_recall` over ``(image, boxes, ignored boxes)`` triples."""
    found = total = unmatched = 0
    for image, boxes, ignore in frames:
        dets = [f.box for f in detector.detect(image)]
        used = set()
        for box in boxes:
            total += 1
            best = max(((iou(box, d), i) for i, d in enumerate(dets) if i not in used), default=(0.0, -1))
            if best[0] >= min_iou:
                found += 1
                used.add(best[1])
        for i, d in enumerate(dets):
            if i not in used and not any(iou(d, g) >= min_iou for g in ignore):
                unmatched += 1
    return {"recall": found / max(total, 1), "found": found, "labelled": total, "unmatched_detections": unmatched}


def camera_frames(lfw_dir: str | Path, count: int = 150, seed: int = 0) -> list[tuple[np.ndarray, list, list]]:
    """640×480 frames as a 4:3 camera delivers them: one or two LFW photos, each scaled to 100–460 px
    (faces of roughly 40–190 px), on a noisy grey wall, with their faces' boxes.

    Why synthetic: the labelled group photos hold 43 faces; a change in how a 4:3 frame enters the
    detector needs more faces than that, at the sizes a doorway camera sees. The box of each face is
    where the square-input detector puts it in the LFW photo on its own, scaled and moved with it:
    what is measured is whether a 4:3 frame finds the same faces, not whether the detector is right.
    """
    import cv2

    rng = random.Random(seed)
    noise = np.random.default_rng(seed)
    paths = sorted(Path(lfw_dir).glob("*/*.jpg"))
    square = FaceDetector("full", fit_frame=False)
    frames = []
    while len(frames) < count:
        canvas = np.clip(noise.normal(110, 6, (480, 640, 3)), 0, 255).astype(np.uint8)
        boxes, x0 = [], 0
        for _ in range(rng.choice((1, 2))):
            photo = read_image(rng.choice(paths))
            faces = square.detect(photo)
            side = rng.randint(100, 460)
            if len(faces) != 1 or x0 + side > 640:
                continue
            x, y = rng.randint(x0, 640 - side), rng.randint(0, 480 - side)
            canvas[y:y + side, x:x + side] = cv2.resize(photo, (side, side), interpolation=cv2.INTER_AREA)
            k = side / photo.shape[1]
            bx, by, bw, bh = faces[0].box
            boxes.append((x + bx * k, y + by * k, bw * k, bh * k))
            x0 = x + side
        if boxes:
            frames.append((canvas, boxes, []))
    return frames


def lfw_found_rate(detector: FaceDetector, images: str | Path, sample: int = 0, seed: int = 0) -> dict:
    paths = sorted(Path(images).glob("*/*.jpg"))
    if sample:
        paths = random.Random(seed).sample(paths, min(sample, len(paths)))
    missed = [p for p in tqdm(paths, desc="LFW detection", unit="img") if not detector.detect(read_image(p))]
    return {"found_rate": 1 - len(missed) / len(paths), "images": len(paths), "missed": [str(p) for p in missed]}


def false_positives(detector: FaceDetector, image: str | Path) -> list[dict]:
    return [{"box": [round(v, 1) for v in f.box], "score": round(f.score, 3)}
            for f in detector.detect(read_image(image))]


def face_sizes(xml: str | Path) -> np.ndarray:
    return np.array([b[2] for item in read_dlib_xml(xml) for b in item.boxes])


def small_views(image: np.ndarray, sides: tuple[int, ...] = (100, 160, 240, 320, 480),
                size: int = 100) -> list[np.ndarray]:
    """Squares of each side in ``sides`` stepped by half their side over ``image``, each scaled to
    ``size`` pixels: small photos of whatever the image shows. Why: a photo this small in which
    nothing is found takes the preprocessing's extra looks (a border, swapped colours), so views of
    a faceless picture measure what those looks add in false faces."""
    import cv2

    h, w = image.shape[:2]
    return [cv2.resize(image[y:y + s, x:x + s], (size, size), interpolation=cv2.INTER_AREA)
            for s in sides for y in range(0, h - s + 1, s // 2) for x in range(0, w - s + 1, s // 2)]
