"""Aligned face crops for training, calibration and evaluation — made by edge's preprocessing.

This module does no image processing of its own: it calls :class:`edge.vision.preprocess.FacePreprocessor`
(the one preprocessing path) and caches the resulting crops on disk, because detecting and aligning
13,000 LFW images takes minutes and every converter command needs the same crops.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict
from pathlib import Path

import numpy as np
from tqdm import tqdm

from edge.vision.card import AlignmentSpec
from edge.vision.imageio import read_image
from edge.vision.preprocess import FacePreprocessor

log = logging.getLogger(__name__)

CACHE_DIR = Path(__file__).resolve().parents[1] / ".cache" / "crops"
EDGE = Path(__file__).resolve().parents[1] / "edge" / "vision"
# every module whose behaviour changes a crop: a change to any of them must invalidate cached crops,
# or an evaluation after a preprocessing fix would silently measure the old preprocessing
PREPROCESSING_SOURCES = ("preprocess.py", "detector.py", "landmarks.py", "alignment.py", "imageio.py", "assets.py")


def preprocessing_fingerprint() -> str:
    """sha256 over the preprocessing code and the third-party models it runs."""
    from edge.vision.assets import ASSETS

    h = hashlib.sha256()
    for name in PREPROCESSING_SOURCES:
        h.update((EDGE / name).read_bytes())
    for asset in sorted(ASSETS.values(), key=lambda a: a.name):
        h.update(asset.sha256.encode())
    return h.hexdigest()


def crop_images(paths: list[Path], spec: AlignmentSpec, colour: str = "RGB", detector: str = "auto",
                cache: bool = True, desc: str = "aligning") -> tuple[np.ndarray, np.ndarray]:
    """``(crops (N, S, S, 3) uint8, detected (N,) bool)`` for ``paths``.

    When no face is found, the crop is :meth:`FacePreprocessor.centre_crop` (the documented
    fallback) and ``detected`` is False, so callers count failures instead of dropping pairs.
    """
    key = hashlib.sha256(json.dumps([asdict(spec), colour, detector, preprocessing_fingerprint(),
                                     [str(p) for p in paths]]).encode()).hexdigest()
    cache_file = CACHE_DIR / f"{key[:24]}.npz"
    if cache and cache_file.is_file():
        data = np.load(cache_file)
        return data["crops"], data["detected"]
    pre = FacePreprocessor(spec, colour, detector_model=detector)
    crops = np.empty((len(paths), spec.size, spec.size, 3), np.uint8)
    detected = np.zeros(len(paths), bool)
    for i, p in enumerate(tqdm(paths, desc=desc, unit="img")):
        image = read_image(p)
        faces = pre.faces(image)
        if faces:
            # LFW images are centred on their subject: take the detected face nearest the centre
            h, w = image.shape[:2]
            best = min(faces, key=lambda a: np.hypot(a.face.box[0] + a.face.box[2] / 2 - w / 2,
                                                     a.face.box[1] + a.face.box[3] / 2 - h / 2))
            crops[i], detected[i] = best.crop, True
        else:
            crops[i] = pre.centre_crop(image)
    if cache:
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(".part.npz")
        np.savez(tmp, crops=crops, detected=detected)
        tmp.replace(cache_file)
    return crops, detected
