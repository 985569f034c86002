"""Similarity alignment of a face to an embedder's canonical template.

A template is a set of target points in the unit square of the output crop plus the landmarks they
come from. Two templates exist:

* ``dlib5`` — dlib's published 5-point template (``get_face_chip_details``, padding 0.25), fed by
  FaceMesh eye corners and nose base. Reproduces dlib's face chips, which its ResNet was trained on.
* ``blazeface4`` — where dlib's chips put BlazeFace's eyes, nose tip and mouth (fitted on LFW faces
  aligned both ways); needs no landmark model, slightly worse in the wild.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

_DLIB5_UNIT = np.array([
    [0.8595674595992, 0.2134981538014],  # left eye, outer corner (image right)
    [0.6460604764104, 0.2289674387677],  # left eye, inner corner
    [0.1205750620789, 0.2137274526848],  # right eye, outer corner (image left)
    [0.3340850613712, 0.2290642403242],  # right eye, inner corner
    [0.4901123135679, 0.6277975316475],  # base of the nose
], dtype=np.float64)

# BlazeFace right eye, left eye, nose tip, mouth centre in a 150 px dlib chip (padding 0.25).
_BLAZEFACE4_CHIP150 = np.array([[46.05, 46.65], [101.74, 47.50], [73.41, 77.80], [73.02, 107.12]])
_BLAZEFACE4_WEIGHTS = np.array([1.0, 1.0, 0.2, 1.0])


@dataclass(frozen=True)
class Template:
    """Target points (in output pixels for ``size`` and ``padding``) and per-point weights."""

    name: str
    points: np.ndarray
    weights: np.ndarray
    needs_facemesh: bool


TEMPLATE_NAMES = ("dlib5", "blazeface4")


def make_template(name: str, size: int, padding: float = 0.25) -> Template:
    """Build a template for an output crop of ``size``×``size`` pixels."""
    if name == "dlib5":
        pts = (padding + _DLIB5_UNIT) / (2 * padding + 1) * size
        return Template(name, pts, np.ones(5), True)
    if name == "blazeface4":
        # measured at padding 0.25, size 150: rescale around the chip centre for other paddings
        unit = (_BLAZEFACE4_CHIP150 / 150.0) * 1.5 - 0.25  # back to dlib's unit square
        pts = (padding + unit) / (2 * padding + 1) * size
        return Template(name, pts, _BLAZEFACE4_WEIGHTS, False)
    raise ValueError(f"unknown alignment template {name!r} (expected 'dlib5' or 'blazeface4')")


def similarity_transform(src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Weighted least-squares similarity (rotation, uniform scale, translation; no reflection).

    Umeyama's solution in 2-D, written with complex numbers: find ``a`` (scale·rotation) and ``b``
    minimising ``Σ wᵢ |a·zᵢ + b − tᵢ|²``. Returns the 2×3 matrix for ``cv2.warpAffine``.
    """
    w = np.ones(len(src)) if weights is None else np.asarray(weights, dtype=np.float64)
    z = src[:, 0] + 1j * src[:, 1]
    t = dst[:, 0] + 1j * dst[:, 1]
    zc = z - (w * z).sum() / w.sum()
    tc = t - (w * t).sum() / w.sum()
    a = (w * np.conj(zc) * tc).sum() / max((w * np.abs(zc) ** 2).sum(), 1e-12)
    b = (w * t).sum() / w.sum() - a * (w * z).sum() / w.sum()
    return np.array([[a.real, -a.imag, b.real], [a.imag, a.real, b.imag]], dtype=np.float64)


def warp(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """Warp ``image`` into a ``size``×``size`` crop; pre-shrinks with INTER_AREA when downscaling
    by more than 2× so the crop is not aliased (dlib's chip extractor does the same with a pyramid)."""
    scale = float(np.hypot(matrix[0, 0], matrix[1, 0]))
    if scale < 0.5:
        # crop a generous region around the output's footprint, shrink it, then warp the rest
        inv = cv2.invertAffineTransform(matrix)
        corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], np.float64) @ inv[:, :2].T + inv[:, 2]
        x0, y0 = np.floor(corners.min(0)).astype(int) - 2
        x1, y1 = np.ceil(corners.max(0)).astype(int) + 2
        h, w = image.shape[:2]
        x0c, y0c, x1c, y1c = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        if x1c > x0c and y1c > y0c:
            shrink = scale * 2.0
            roi = image[y0c:y1c, x0c:x1c]
            small = cv2.resize(roi, (max(1, round(roi.shape[1] * shrink)), max(1, round(roi.shape[0] * shrink))),
                               interpolation=cv2.INTER_AREA)
            sx, sy = small.shape[1] / roi.shape[1], small.shape[0] / roi.shape[0]
            pre = np.array([[sx, 0, -x0c * sx], [0, sy, -y0c * sy]])
            # matrix ∘ pre⁻¹
            pre_inv = cv2.invertAffineTransform(pre)
            m3 = np.vstack([matrix, [0, 0, 1]]) @ np.vstack([pre_inv, [0, 0, 1]])
            return cv2.warpAffine(small, m3[:2], (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
