"""Draw boxes, names and scores on a copy of a frame (for ``identify --out`` and saved crops)."""

from __future__ import annotations

import cv2
import numpy as np

from edge.pipeline import Identified

KNOWN = (60, 200, 60)
UNKNOWN = (40, 40, 230)


def annotate(image_bgr: np.ndarray, results: list[Identified]) -> np.ndarray:
    """Return an annotated copy; the input array is not modified."""
    out = image_bgr.copy()
    thickness = max(1, round(max(out.shape[:2]) / 400))
    font_scale = max(0.4, max(out.shape[:2]) / 1400)
    for r in results:
        x, y, w, h = (round(v) for v in r.face.box)
        colour = KNOWN if r.match.name else UNKNOWN
        cv2.rectangle(out, (x, y), (x + w, y + h), colour, thickness)
        label = f"{r.match.name or 'unknown'} {r.match.score:.2f}"
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)
        ty = max(y, th + base + 2)
        cv2.rectangle(out, (x, ty - th - base - 2), (x + tw + 2, ty), colour, -1)
        cv2.putText(out, label, (x + 1, ty - base - 1), cv2.FONT_HERSHEY_SIMPLEX, font_scale, (255, 255, 255),
                    thickness, cv2.LINE_AA)
    return out
