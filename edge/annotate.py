"""Draw boxes, names and scores on a copy of a frame (for ``identify --out`` and saved crops)."""

from __future__ import annotations

import unicodedata

import cv2
import numpy as np

from edge.vision.pipeline import Identified

KNOWN = (60, 200, 60)
UNKNOWN = (40, 40, 230)


def drawable(text: str) -> str:
    """``text`` in the ASCII that OpenCV's Hershey fonts can draw: accents are dropped
    ("José Müller" → "Jose Muller", "Łukasz" → "Lukasz"), anything else becomes "?".

    Why: ``cv2.putText`` draws each non-ASCII character as "?", turning "Zoë" into "Zo??";
    names stay readable for every Latin-script name without a font dependency on the device.
    """
    special = {"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "ß": "ss", "æ": "ae", "Æ": "AE", "đ": "d", "Đ": "D"}
    text = "".join(special.get(c, c) for c in text)
    plain = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return plain.encode("ascii", "replace").decode("ascii")


def annotate(image_bgr: np.ndarray, results: list[Identified]) -> np.ndarray:
    """Return an annotated copy; the input array is not modified."""
    out = image_bgr.copy()
    thickness = max(1, round(max(out.shape[:2]) / 400))
    font_scale = max(0.4, max(out.shape[:2]) / 1400)
    for r in results:
        x, y, w, h = (round(v) for v in r.face.box)
        colour = KNOWN if r.match.name else UNKNOWN
        cv2.rectangle(out, (x, y), (x + w, y + h), colour, thickness)
        label = f"{drawable(r.match.name or 'unknown')} {r.match.score:.2f}"
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)
        ty = max(y, th + base + 2)
        cv2.rectangle(out, (x, ty - th - base - 2), (x + tw + 2, ty), colour, -1)
        cv2.putText(out, label, (x + 1, ty - base - 1), cv2.FONT_HERSHEY_SIMPLEX, font_scale, (255, 255, 255),
                    thickness, cv2.LINE_AA)
    return out


def annotate_detections(image_bgr: np.ndarray, faces: list) -> np.ndarray:
    """An annotated copy showing detections only (``Face`` boxes with their detector scores)."""
    out = image_bgr.copy()
    thickness = max(1, round(max(out.shape[:2]) / 400))
    for f in faces:
        x, y, w, h = (round(v) for v in f.box)
        cv2.rectangle(out, (x, y), (x + w, y + h), KNOWN, thickness)
        cv2.putText(out, f"face {f.score:.2f}", (x, max(12, y - 4)), cv2.FONT_HERSHEY_SIMPLEX,
                    max(0.4, max(out.shape[:2]) / 1400), KNOWN, thickness, cv2.LINE_AA)
    return out
