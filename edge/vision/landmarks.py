"""Refine BlazeFace's coarse keypoints with MediaPipe FaceMesh (468 points).

Why: BlazeFace's six keypoints move with pose (nose tip, ears) and are coarse on in-the-wild
photos. dlib's metric ResNet was trained on chips aligned from eye corners and the nose base;
FaceMesh gives those points precisely (its cost per face: README's performance table). The crop fed to FaceMesh is
rotated so the eyes are level and spans 1.5× the detection box, as MediaPipe's own graph does.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from edge.vision.assets import asset_path
from edge.vision.detector import Face
from edge.vision.runtime import TFLiteModel
from edge.vision.scores import sigmoid

DLIB5_FROM_FACEMESH = (263, 362, 33, 133, 2)
"""FaceMesh indices of dlib's 5 parts: left eye outer/inner, right eye outer/inner, nose base."""


class FaceMeshRefiner:
    """Runs FaceMesh on a rotated crop around a detection; returns 468 points in frame pixels."""

    def __init__(self, num_threads: int = 1, model_path: str | None = None, roi_scale: float = 1.5) -> None:
        self.net = TFLiteModel(model_path or asset_path("face_landmark.tflite"), num_threads=num_threads)
        self.size = self.net.input_shape[1]
        self.roi_scale = roi_scale
        shapes = [int(np.prod(d["shape"])) for d in self.net.outputs]
        self._points_out = int(np.argmax(shapes))
        self._flag_out = int(np.argmin(shapes))

    def roi_transform(self, face: Face) -> np.ndarray:
        """2×3 affine taking frame pixels to the FaceMesh input square (eyes level, 1.5× box)."""
        x, y, w, h = face.box
        cx, cy = x + w / 2, y + h / 2
        (rx, ry), (lx, ly) = face.keypoints[0], face.keypoints[1]
        angle = math.degrees(math.atan2(ly - ry, lx - rx))
        side = max(w, h) * self.roi_scale
        m = cv2.getRotationMatrix2D((cx, cy), angle, self.size / side)
        m[:, 2] += (self.size / 2 - cx, self.size / 2 - cy)
        return m

    def grey_presence(self, image_bgr: np.ndarray, face: Face) -> float:
        """Face presence on the luminance of the crop only.

        Why: false-colour photos (the seed's database was saved through a colour map) get presence
        ≈ 0 in colour but ≈ 1 in grey, while non-faces (a dog) stay ≈ 0 in both.
        """
        grey = cv2.cvtColor(cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
        return self.landmarks(grey, face)[1]

    def landmarks(self, image_bgr: np.ndarray, face: Face) -> tuple[np.ndarray, float]:
        """``(468, 2)`` float32 FaceMesh points for ``face`` in frame pixels, and FaceMesh's own
        face-presence probability (a second opinion that rejects detector false positives)."""
        m = self.roi_transform(face)
        crop = cv2.warpAffine(image_bgr, m, (self.size, self.size), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT)
        rgb = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
        outputs = self.net.run(rgb[None])
        raw = outputs[self._points_out].reshape(-1, 3)[:, :2]
        presence = float(sigmoid(outputs[self._flag_out].reshape(-1)[0]))
        inv = cv2.invertAffineTransform(m)
        return (raw @ inv[:, :2].T + inv[:, 2]).astype(np.float32), presence
