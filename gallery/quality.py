"""Quality gates for enrollment photos, each with a plain reason a person can act on."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge.vision.preprocess import AlignedFace, no_face_reason


@dataclass(frozen=True)
class QualityPolicy:
    """Thresholds for accepting an enrollment photo."""

    min_face_px: float = 40.0  # detection box side in the photo
    # variance of the Laplacian of the aligned grey crop; on 400 LFW crops the 1st percentile is 16 and a
    # Gaussian blur of sigma 2.5 brings the median to 8.7, so 6 rejects only clearly blurred photos
    min_sharpness: float = 6.0
    multiple_faces: str = "reject"  # or "largest": use the largest face, with a warning


def sharpness(crop: np.ndarray) -> float:
    """Variance of the Laplacian of the aligned crop's centre: low means blurred."""
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    h, w = grey.shape
    centre = grey[h // 5: h - h // 5, w // 5: w - w // 5]
    return float(cv2.Laplacian(centre, cv2.CV_64F).var())


def choose_face(image_bgr: np.ndarray, faces: list[AlignedFace], policy: QualityPolicy
                ) -> tuple[AlignedFace | None, str, str]:
    """Pick the face of ``image_bgr`` to enroll among those found in it: returns ``(face or None,
    rejection reason, warning)``."""
    if not faces:
        return None, no_face_reason(image_bgr), ""
    warning = ""
    if len(faces) > 1:
        if policy.multiple_faces != "largest":
            return None, f"{len(faces)} faces found (use a photo with only this person)", ""
        warning = f"{len(faces)} faces found; using the largest"
    face = faces[0]  # largest first
    if face.face.size < policy.min_face_px:
        return None, f"face too small ({face.face.size:.0f} px, need at least {policy.min_face_px:.0f} px)", warning
    sharp = sharpness(face.crop)
    if sharp < policy.min_sharpness:
        return None, f"too blurry (sharpness {sharp:.1f}, need at least {policy.min_sharpness:.0f})", warning
    return face, "", warning
