"""Overlap of ``(x, y, w, h)`` boxes: one implementation for detection merging, tracking and the
detector's evaluation."""

from __future__ import annotations

from collections.abc import Sequence

Box = Sequence[float]


def _intersection(a: Box, b: Box) -> float:
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return ix * iy


def iou(a: Box, b: Box) -> float:
    """Intersection over union."""
    inter = _intersection(a, b)
    return inter / max(a[2] * a[3] + b[2] * b[3] - inter, 1e-9)


def overlap_of_smaller(a: Box, b: Box) -> float:
    """Intersection over the smaller box's area (a box inside another scores 1)."""
    return _intersection(a, b) / max(min(a[2] * a[3], b[2] * b[3]), 1e-9)
