"""THE face preprocessing path: detect → (refine landmarks) → align → crop.

Every consumer — training, calibration and evaluation in converter/, enrollment in gallery/, the
``identify`` command and the daemon — calls this module, so what the model sees at training time is
byte-for-byte what it sees on the device. Nothing else in the project detects, aligns or crops.

Crops come out as uint8 in the model's colour order (the card's ``colour``); normalisation to the
model's input range happens inside the model graph.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from edge.vision.alignment import make_template, similarity_transform, warp
from edge.vision.card import AlignmentSpec
from edge.vision.detector import Face, FaceDetector
from edge.vision.landmarks import DLIB5_FROM_FACEMESH, FaceMeshRefiner

PAD_RETRY_MAX_SIDE = 480
"""A photo no larger than this in which nothing is found gets a second look inside a border: a tight
face crop (the face filling the picture, as in the seed's ``eval/`` photos) lacks the context
BlazeFace was trained with. Camera frames never take this path (the daemon calls :meth:`detect`)."""


RETRY_BORDERS = (0.25, 0.5)
"""Border widths tried in turn, as fractions of the photo's long side (each one costs a detection)."""


SWAPPED_VIEW_MIN_PRESENCE = 0.9
"""FaceMesh presence a face found only in a red/blue-swapped view must reach (see :func:`border_retries`).
Why stricter than :attr:`FacePreprocessor.min_presence`: on small crops of ``dogs.jpg`` the swapped
views give BlazeFace a few more false faces, which FaceMesh rates near chance, while it is near
certain of a real face (the figures: ``docs/results/bench_detector.json``)."""


BLANK_MAX_STD = 2.0
"""Grey-level standard deviation under which a picture counts as one flat colour (JPEG noise on a
flat area stays well below it; any photographed scene is far above)."""

NO_FACE = "no face found"


def no_face_reason(image_bgr: np.ndarray) -> str:
    """What to tell a person when no face was found in their picture.

    Why a second reason: a picture that is one flat colour (a failed export, a covered lens, one of
    the seed's ``eval/`` files) holds nothing that could be a face, and "the picture is blank" tells
    them what to fix where "no face found" sends them looking at the face.
    """
    grey = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY)
    if float(cv2.meanStdDev(grey)[1][0, 0]) < BLANK_MAX_STD:
        return f"{NO_FACE}: the picture is blank (one flat colour)"
    return NO_FACE


def padded_for_retry(image_bgr: np.ndarray, fraction: float) -> tuple[np.ndarray, int]:
    """The photo centred in a mid-grey border ``fraction`` of its long side wide, and that width."""
    pad = max(1, round(max(image_bgr.shape[:2]) * fraction))
    return cv2.copyMakeBorder(image_bgr, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(128, 128, 128)), pad


def unpadded(face: Face, pad: int) -> Face:
    """A face found in :func:`padded_for_retry`'s image, in the original photo's coordinates (its box
    may reach past the photo's edges), marked secondary so FaceMesh must confirm it."""
    x, y, w, h = face.box
    return Face((x - pad, y - pad, w, h), face.score, face.keypoints - np.float32(pad), secondary=True)


def border_retries(image_bgr: np.ndarray) -> Iterator[tuple[np.ndarray, int, bool]]:
    """The looks to take in turn at a small photo in which nothing was found, each as the photo
    inside a border, that border's width, and whether the detector is to see it with red and blue
    swapped (none for a photo larger than :data:`PAD_RETRY_MAX_SIDE`): each border of
    :data:`RETRY_BORDERS` as the photo is, then each again swapped.

    Why the swapped views: a photo saved with red and blue exchanged (an RGB array written by
    OpenCV, which expects BGR — nearly every photo of the seed's ``eval/`` is one) shows blue skin,
    and BlazeFace's score for a face cut by the picture's edge then stays under its threshold; in
    natural colours it clears it. Only the detector looks through the swapped view: the landmarks
    and the crop are taken from the photo as it is, so its embedding is the same whichever view
    found the face.
    """
    if max(image_bgr.shape[:2]) > PAD_RETRY_MAX_SIDE:
        return
    for swapped in (False, True):
        for fraction in RETRY_BORDERS:
            yield *padded_for_retry(image_bgr, fraction), swapped


def swap_red_blue(image: np.ndarray) -> np.ndarray:
    """The image with its first and third channels exchanged (its own inverse)."""
    return np.ascontiguousarray(image[..., ::-1])


@dataclass(frozen=True)
class AlignedFace:
    """A detected face and its aligned crop (``size``×``size``×3 uint8, model colour order)."""

    face: Face
    crop: np.ndarray
    landmarks: np.ndarray  # the points the template was fitted to, frame pixels
    presence: float = 1.0  # FaceMesh's face probability (1.0 when the template needs no FaceMesh)


class FacePreprocessor:
    """Detector + optional FaceMesh + template alignment, configured from a model card's spec."""

    def __init__(self, alignment: AlignmentSpec, colour: str = "RGB", detector: FaceDetector | None = None,
                 detector_model: str = "auto", num_threads: int = 1, min_score: float = 0.5, tile: int = 0,
                 min_presence: float = 0.5) -> None:
        self.spec = alignment
        self.min_presence = min_presence
        self.colour = colour
        self.template = make_template(alignment.template, alignment.size, alignment.padding)
        self.detector = detector or FaceDetector(detector_model, score_threshold=min_score,
                                                 num_threads=num_threads, tile=tile)
        self.refiner = FaceMeshRefiner(num_threads=num_threads) if self.template.needs_facemesh else None

    def detect(self, image_bgr: np.ndarray, tile: int | None = None) -> list[Face]:
        """Faces in a BGR frame, largest first (``tile`` overrides the detector's tiling)."""
        return sorted(self.detector.detect(image_bgr, tile), key=lambda f: -f.box[2] * f.box[3])

    def template_points(self, image_bgr: np.ndarray, face: Face) -> tuple[np.ndarray, float]:
        """The landmarks the template is fitted to (frame pixels) and the face-presence score."""
        if self.refiner is not None:
            points, presence = self.refiner.landmarks(image_bgr, face)
            return points[list(DLIB5_FROM_FACEMESH)], presence
        return face.keypoints[:4], 1.0

    def crop_at(self, image_bgr: np.ndarray, points: np.ndarray) -> np.ndarray:
        """The model-input crop for landmarks ``points``: similarity fit to the template, warp, colour."""
        m = similarity_transform(points.astype(np.float64), self.template.points, self.template.weights)
        return self._to_model_colour(warp(image_bgr, m, self.spec.size))

    def align(self, image_bgr: np.ndarray, face: Face) -> AlignedFace:
        """Aligned crop of one detected face."""
        pts, presence = self.template_points(image_bgr, face)
        return AlignedFace(face, self.crop_at(image_bgr, pts), pts, presence)

    def faces(self, image_bgr: np.ndarray, tile: int | None = None) -> list[AlignedFace]:
        """Detect and align every face in a photo, largest first; detections that FaceMesh does
        not confirm as a face are dropped (see :meth:`confirmed`). A small photo with no face found
        gets a second look inside a border, then in swapped colours (:func:`border_retries`); boxes and
        landmarks come back in the photo's own coordinates, the crop is the same either way."""
        found = self.confirmed(image_bgr, [self.align(image_bgr, f) for f in self.detect(image_bgr, tile)])
        for padded, pad, swapped in border_retries(image_bgr):
            if found:
                break
            # only the detector sees the swapped view; landmarks, crop and FaceMesh's confirmation
            # are taken from the photo as it is
            faces = self.detect(swap_red_blue(padded) if swapped else padded, tile)
            aligned = [self.align(padded, dataclasses.replace(f, secondary=True)) for f in faces]
            if swapped:  # the weakest evidence taken: FaceMesh must be sure, in the photo's own colours
                kept = [a for a in aligned if a.presence >= SWAPPED_VIEW_MIN_PRESENCE]
            else:
                kept = self.confirmed(padded, aligned)
            found = [AlignedFace(unpadded(a.face, pad), a.crop, a.landmarks - pad, a.presence) for a in kept]
        return found

    def confirmed(self, image_bgr: np.ndarray, aligned: list[AlignedFace]) -> list[AlignedFace]:
        """Drop secondary detections (tile passes, short-range fallback) that FaceMesh does not
        confirm as a face.

        Why: BlazeFace on tiles of a big photo fires on hands and chandeliers (scores 0.7–0.8), and
        the short-range fallback on a dog (0.56); FaceMesh's presence for those is < 0.01 and ≈ 1.0
        for real faces. A face that fails in colour gets a second look in grey (false-colour photos
        such as the seed's database pass that way; the dog does not). Primary detections are
        trusted as they are.
        """
        if self.refiner is None:
            return aligned
        return [a for a in aligned if not a.face.secondary or a.presence >= self.min_presence
                or self.refiner.grey_presence(image_bgr, a.face) >= self.min_presence]

    def centre_crop(self, image_bgr: np.ndarray, face_fraction: float = 0.5) -> np.ndarray:
        """Fallback when no face is found (evaluation only): a centred square whose middle
        ``face_fraction`` is assumed to be the face, scaled to the template's face size."""
        h, w = image_bgr.shape[:2]
        side = min(h, w) * face_fraction * (1 + 2 * self.spec.padding)
        s = self.spec.size / side
        m = np.array([[s, 0, self.spec.size / 2 - s * w / 2], [0, s, self.spec.size / 2 - s * h / 2]])
        return self._to_model_colour(warp(image_bgr, m, self.spec.size))

    def _to_model_colour(self, crop_bgr: np.ndarray) -> np.ndarray:
        return cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2RGB) if self.colour == "RGB" else crop_bgr
