"""MediaPipe BlazeFace face detection with six keypoints, decoded in numpy.

Two models (both fetched at install, see :mod:`edge.vision.assets`): ``short`` (128×128, faces near the
camera) and ``full`` (192×192 sparse, faces down to ~20 px in a 640 px frame). Frames of any size
and aspect are letterboxed into the input and results are mapped back to frame pixels. The full
range model's input takes the frame's aspect (192×144 for 4:3, see :mod:`edge.vision.model_reshape`), so
no work is spent on letterbox bars.

Box convention everywhere in this project: ``(x, y, w, h)`` in frame pixels, float.
Keypoints: six ``(x, y)`` rows in frame pixels, in BlazeFace's order (see :data:`KEYPOINTS`).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from edge.errors import ModelFileError
from edge.vision.assets import asset_path
from edge.vision.boxes import iou, overlap_of_smaller
from edge.vision.model_reshape import ReshapeUnavailable, reshaped_model
from edge.vision.runtime import TFLiteModel
from edge.vision.scores import logit, sigmoid

log = logging.getLogger(__name__)

KEYPOINTS = ("right_eye", "left_eye", "nose_tip", "mouth", "right_ear", "left_ear")
"""BlazeFace keypoint order; 'right' is the subject's right, i.e. the image's left."""


@dataclass(frozen=True)
class DetectorSpec:
    """Everything that differs between the two BlazeFace models."""

    file: str
    input_size: int
    strides: tuple[int, ...]
    anchors_per_layer: int  # 2 when interpolated_scale_aspect_ratio is set, else 1
    fits_frame: bool = False  # one anchor grid, fully convolutional: the input may take the frame's aspect


SPECS = {
    "short": DetectorSpec("face_detection_short_range.tflite", 128, (8, 16, 16, 16), 2),
    "full": DetectorSpec("face_detection_full_range_sparse.tflite", 192, (4,), 1, fits_frame=True),
}

INPUT_GRANULE = 16
"""A re-shaped input's sides are multiples of this. The network's total stride is 32 (192 → 6 → ×2 ×2
×2); a side of 16 × odd (144 for a 4:3 frame) has its first upsampling cut to the skip's size
(:mod:`edge.vision.model_reshape`), so a 4:3 frame needs no bars at all."""

MAX_INPUT_SHAPES = 3
"""Interpreters kept per detector, one per input shape (a camera needs one; photos of mixed aspect a few)."""


@dataclass(frozen=True)
class Face:
    """One detected face: box ``(x, y, w, h)``, confidence, and six keypoints in frame pixels."""

    box: tuple[float, float, float, float]
    score: float
    keypoints: np.ndarray = field(repr=False)  # (6, 2) float32
    secondary: bool = False  # found by a tile pass or the fallback model: confirm before trusting

    @property
    def size(self) -> float:
        """Box side in pixels (the smaller of width and height)."""
        return min(self.box[2], self.box[3])


def ssd_anchors(spec: DetectorSpec, height: int | None = None, width: int | None = None) -> np.ndarray:
    """Anchor centres ``(n, 2)`` as ``(x, y)`` in [0, 1] of the input, for MediaPipe's SSD layout
    with fixed anchor size; ``height``/``width`` default to the model's own square input."""
    height, width = height or spec.input_size, width or spec.input_size
    rows = []
    i = 0
    strides = spec.strides
    while i < len(strides):
        j = i
        while j < len(strides) and strides[j] == strides[i]:
            j += 1
        per_cell = (j - i) * spec.anchors_per_layer
        cells_y, cells_x = math.ceil(height / strides[i]), math.ceil(width / strides[i])
        ys, xs = np.mgrid[0:cells_y, 0:cells_x]
        centres = np.stack([(xs + 0.5) / cells_x, (ys + 0.5) / cells_y], axis=-1).reshape(-1, 1, 2)
        rows.append(np.repeat(centres, per_cell, axis=1).reshape(-1, 2))
        i = j
    return np.concatenate(rows).astype(np.float32)


def weighted_nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> list[tuple[np.ndarray, float]]:
    """MediaPipe's weighted NMS: overlapping candidates are averaged, weighted by score.

    ``boxes`` rows are ``[x0, y0, x1, y1, kp0x, kp0y, …]``; returns ``(row, best_score)`` pairs.
    """
    order = np.argsort(-scores)
    boxes, scores = boxes[order], scores[order]
    remaining = np.ones(len(scores), dtype=bool)
    out = []
    areas = (boxes[:, 2] - boxes[:, 0]).clip(0) * (boxes[:, 3] - boxes[:, 1]).clip(0)
    for i in range(len(scores)):
        if not remaining[i]:
            continue
        x0 = np.maximum(boxes[i, 0], boxes[:, 0])
        y0 = np.maximum(boxes[i, 1], boxes[:, 1])
        x1 = np.minimum(boxes[i, 2], boxes[:, 2])
        y1 = np.minimum(boxes[i, 3], boxes[:, 3])
        inter = (x1 - x0).clip(0) * (y1 - y0).clip(0)
        iou = inter / np.maximum(areas[i] + areas - inter, 1e-9)
        group = remaining & (iou > iou_threshold)
        group[i] = True
        w = scores[group]
        out.append(((boxes[group] * w[:, None]).sum(0) / w.sum(), float(scores[i])))
        remaining &= ~group
    return out


TILE_SCORE_BONUS = 0.15


@dataclass(frozen=True)
class _Input:
    """One interpreter of the model and what decoding needs for its input shape."""

    net: TFLiteModel
    height: int
    width: int
    anchors: np.ndarray
    box_out: int  # index of the box regressor output (files differ in their order)
    score_out: int


class FaceDetector:
    """BlazeFace detector. Construct once; call :meth:`detect` per frame (BGR uint8).

    ``model``: ``"full"`` (far and small faces), ``"short"`` (selfie distance), or ``"auto"`` —
    full range, then short range on frames where full range finds nothing (full range misses some
    faces that fill the frame: 5 of ~700 LFW images; short range misses none of them).

    ``fit_frame`` (full range only): run the network on an input shaped like the frame (sides
    multiples of ``granule``, 192 on the long side) rather than the 192×192 square, so letterbox
    bars cost nothing. Same weights and the same pixels per face; off, every frame goes through the
    square. ``granule`` 32 gives the inputs that need no SLICE (192×160 for 4:3; benchmarks compare).
    """

    def __init__(self, model: str = "auto", score_threshold: float = 0.5, iou_threshold: float = 0.3,
                 num_threads: int = 1, model_path: str | None = None, tile: int = 0,
                 fit_frame: bool = True, granule: int = INPUT_GRANULE) -> None:
        if model not in (*SPECS, "auto"):
            raise ValueError(f"detector model must be one of {[*SPECS, 'auto']}, got {model!r}")
        self.model_name = model
        self.tile = tile
        self.fallback: FaceDetector | None = None
        if model == "auto":
            model = "full"
            self.fallback = FaceDetector("short", score_threshold, iou_threshold, num_threads)
        self.spec = SPECS[model]
        self.score_threshold = score_threshold
        self.iou_threshold = iou_threshold
        self.num_threads = num_threads
        self.model_path = model_path or asset_path(self.spec.file)
        self.fit_frame = fit_frame and self.spec.fits_frame
        self.granule = granule
        self._inputs: OrderedDict[tuple[int, int], _Input] = OrderedDict()
        if not self.fit_frame:
            self._input(self.spec.input_size, self.spec.input_size)  # a bad model file fails now
        elif not Path(self.model_path).is_file():
            # fitted inputs are loaded at the first frame, once its shape is known (loading the
            # square first just to check the file would cost a camera-only daemon memory for good)
            raise ModelFileError(f"model file not found: {self.model_path}")

    @staticmethod
    def _output_order(net: TFLiteModel) -> tuple[int, int]:
        """Indices of the box regressor and score outputs."""
        shapes = [tuple(d["shape"]) for d in net.outputs]
        box = next(i for i, s in enumerate(shapes) if s[-1] == 16)
        return box, 1 - box

    def input_shape_for(self, height: int, width: int) -> tuple[int, int]:
        """The network input ``(H, W)`` used for a frame of ``height × width`` pixels."""
        size = self.spec.input_size
        if not self.fit_frame:
            return size, size
        scale = size / max(height, width)

        def side(n: int) -> int:
            return min(size, max(self.granule, math.ceil(round(n * scale) / self.granule) * self.granule))

        return side(height), side(width)

    def _input(self, height: int, width: int) -> _Input:
        """The interpreter for this frame size, loaded on first use (a few kept, least recent dropped)."""
        key = self.input_shape_for(height, width)
        found = self._inputs.get(key)
        if found is not None:
            self._inputs.move_to_end(key)
            return found
        if key == (self.spec.input_size,) * 2:
            return self._load(key, None)
        square = f"{self.spec.input_size}×{self.spec.input_size}"
        try:
            return self._load(key, reshaped_model(self.model_path, *key))
        except ReshapeUnavailable as exc:
            log.info("detector input stays %s square: %s", square, exc)
        except ModelFileError as exc:  # an interpreter that refuses the edited graph: the file itself may be fine
            log.warning("detector input stays %s square: the %d×%d re-shaped model does not load (%s)",
                        square, *key, exc)
        self.fit_frame = False
        return self._input(height, width)

    def _load(self, key: tuple[int, int], content: bytes | None) -> _Input:
        net = TFLiteModel(self.model_path, num_threads=self.num_threads, content=content)
        self._inputs[key] = found = _Input(net, key[0], key[1], ssd_anchors(self.spec, *key), *self._output_order(net))
        while len(self._inputs) > MAX_INPUT_SHAPES:
            self._inputs.popitem(last=False)
        return found

    def detect(self, image_bgr: np.ndarray, tile: int | None = None) -> list[Face]:
        """Detect faces in a BGR frame of any size; boxes and keypoints in frame pixels.

        ``tile`` overrides the constructor's tiling for this call (0 = whole frame only).
        """
        tile = self.tile if tile is None else tile
        faces = self._detect(image_bgr)
        if tile:
            faces = self._merge(faces + self._detect_tiles(image_bgr, tile))
        if not faces and self.fallback is not None:
            faces = [dataclasses.replace(f, secondary=True) for f in self.fallback.detect(image_bgr)]
        return faces

    def _detect_tiles(self, image_bgr: np.ndarray, t: int) -> list[Face]:
        """Full-resolution passes over overlapping ``t``-pixel squares.

        Why: letterboxing a 1200 px photo into 192 px shrinks a 40 px face to 6 px, below what
        BlazeFace resolves. Tiles keep small faces large enough to be found.
        Tiles see many more candidate windows, so their detections must score
        :data:`TILE_SCORE_BONUS` higher, and faces cut by an inner tile edge are dropped (the
        overlapping neighbour tile or the whole-frame pass sees them whole).
        """
        h, w = image_bgr.shape[:2]
        if max(h, w) <= t * 1.25:
            return []
        min_score = self.score_threshold + TILE_SCORE_BONUS
        step = max(1, int(t * 0.75))
        ys = sorted({*range(0, max(h - t, 0) + 1, step), max(h - t, 0)})
        xs = sorted({*range(0, max(w - t, 0) + 1, step), max(w - t, 0)})
        out = []
        for y in ys:
            for x in xs:
                tile_img = image_bgr[y:y + t, x:x + t]
                th, tw = tile_img.shape[:2]
                edge = 0.02 * t
                for f in self._detect(tile_img):
                    bx, by, bw, bh = f.box
                    cut = ((x > 0 and bx < edge) or (y > 0 and by < edge)
                           or (x + tw < w and bx + bw > tw - edge) or (y + th < h and by + bh > th - edge))
                    if f.score >= min_score and not cut:
                        out.append(Face((bx + x, by + y, bw, bh), f.score, f.keypoints + np.float32([x, y]),
                                        secondary=True))
        return out

    def _merge(self, faces: list[Face]) -> list[Face]:
        """Keep the highest-scoring face of every overlapping group (across passes); a box mostly
        inside another (the same face seen at two scales) counts as overlapping."""
        kept: list[Face] = []
        for f in sorted(faces, key=lambda f: -f.score):
            if all(iou(f.box, k.box) <= self.iou_threshold and overlap_of_smaller(f.box, k.box) < 0.6 for k in kept):
                kept.append(f)
        return kept

    def _detect(self, image_bgr: np.ndarray) -> list[Face]:
        inp = self._input(*image_bgr.shape[:2])
        tensor, scale, pad_x, pad_y = self._letterbox(image_bgr, inp.height, inp.width)
        outputs = inp.net.run(tensor)
        raw_boxes = outputs[inp.box_out].reshape(-1, 16)
        raw_scores = outputs[inp.score_out].reshape(-1)
        # the logistic function only for anchors near or above the threshold (a few of thousands);
        # the exact float32 comparison below decides, as if every anchor had been squashed
        candidates = np.flatnonzero(raw_scores >= logit(self.score_threshold) - 1e-3)
        scores = sigmoid(raw_scores[candidates])
        keep = candidates[scores >= self.score_threshold]
        if not len(keep):
            return []
        input_wh = np.float32([inp.width, inp.height])
        decoded = self._decode(raw_boxes[keep], inp.anchors[keep], input_wh)
        faces = []
        for row, score in weighted_nms(decoded, scores[scores >= self.score_threshold], self.iou_threshold):
            pts = row.reshape(-1, 2) * input_wh  # input pixels
            pts = (pts - (pad_x, pad_y)) / scale  # frame pixels
            (x0, y0), (x1, y1) = pts[0], pts[1]
            faces.append(Face((float(x0), float(y0), float(x1 - x0), float(y1 - y0)), score,
                              pts[2:].astype(np.float32)))
        return faces

    def _letterbox(self, image_bgr: np.ndarray, height: int, width: int) -> tuple[np.ndarray, float, float, float]:
        """Fit the frame into the ``height × width`` input (aspect kept, 192 px on the long side,
        black borders), RGB in [-1, 1].

        Downscaling halves with INTER_AREA while the frame is over twice the target (fast integer
        path, no aliasing), then finishes with INTER_LINEAR: several times faster than one
        non-integer INTER_AREA resize, with the same anti-aliasing.
        """
        h, w = image_bgr.shape[:2]
        scale = self.spec.input_size / max(h, w)
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        pad_x, pad_y = (width - nw) // 2, (height - nh) // 2
        src = image_bgr
        while src.shape[1] >= 2 * nw and src.shape[0] >= 2 * nh:
            src = cv2.resize(src, (src.shape[1] // 2, src.shape[0] // 2), interpolation=cv2.INTER_AREA)
        resized = cv2.resize(src, (nw, nh), interpolation=cv2.INTER_LINEAR)
        if (nh, nw) == (height, width):  # the input fits the frame (4:3 at 192×144): no bars to draw
            canvas = resized
        else:
            canvas = np.zeros((height, width, 3), np.uint8)
            canvas[pad_y:pad_y + nh, pad_x:pad_x + nw] = resized
        rgb = cv2.cvtColor(canvas, cv2.COLOR_BGR2RGB).astype(np.float32)
        rgb *= np.float32(1 / 127.5)
        rgb -= np.float32(1.0)
        return rgb[None], scale, float(pad_x), float(pad_y)

    @staticmethod
    def _decode(raw: np.ndarray, anchors: np.ndarray, input_wh: np.ndarray) -> np.ndarray:
        """Raw SSD regressors (input pixels) → ``[x0, y0, x1, y1, kp…]`` in [0, 1] of the input."""
        pts = raw.reshape(-1, 8, 2) / input_wh
        centre = pts[:, 0] + anchors
        half = pts[:, 1] / 2
        out = np.empty_like(pts)
        out[:, 0] = centre - half
        out[:, 1] = centre + half
        out[:, 2:] = pts[:, 2:] + anchors[:, None, :]
        return out.reshape(-1, 16)
