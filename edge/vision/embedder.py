"""Face embeddings from an int8 ``.tflite`` + its model card, L2-normalised in numpy.

The card (see :mod:`edge.vision.card`) says how to feed the model; the embedder refuses crops of the wrong
size, and the L2 normalisation runs outside the graph so int8 output scale never matters.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from edge.errors import ModelFileError
from edge.vision.assets import shipped_model
from edge.vision.card import ModelCard, load_card
from edge.vision.runtime import TFLiteModel

DEFAULT_MODEL = shipped_model()


def l2_normalize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def flip_average(emb: np.ndarray, emb_mirrored: np.ndarray) -> np.ndarray:
    """Unit-length mean of the embeddings of a crop and of its mirror image.

    Why: a face and its mirror are the same person; averaging removes part of the pose- and
    lighting-asymmetric noise (the gain on LFW is in README's accuracy table). It costs a
    second embedding per face, so the model card decides (``flip_average``).
    """
    return l2_normalize(l2_normalize(emb) + l2_normalize(emb_mirrored))


def model_file(model_path: str | Path | None) -> Path:
    """The embedding model a configuration means: its ``model.path``, or the shipped one when null."""
    return Path(model_path) if model_path else DEFAULT_MODEL


def model_id(path: str | Path) -> str:
    """Short content hash of a model file: gallery caches are keyed by it."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


class Embedder:
    """Runs the embedding model on aligned crops (``size``×``size``×3 uint8, card colour order)."""

    def __init__(self, model_path: str | Path | None = None, num_threads: int = 1) -> None:
        self.path = model_file(model_path)
        if not self.path.is_file():
            raise ModelFileError(f"embedding model not found: {self.path} (rebuild it with `make model`)")
        self.card: ModelCard = load_card(self.path)
        self.net = TFLiteModel(self.path, num_threads=num_threads)
        self.id = model_id(self.path)
        shape = self.net.input_shape
        if shape[1] != self.card.input_size or shape[2] != self.card.input_size:
            raise ModelFileError(f"{self.path}: input {shape} does not match its card's size {self.card.input_size}")

    @property
    def size(self) -> int:
        return self.card.input_size

    def embed(self, crops: np.ndarray, mirror: bool | None = None) -> np.ndarray:
        """``(N, D)`` unit-length float32 embeddings for ``(N, size, size, 3)`` uint8 crops.
        ``mirror``: average with the mirror image (:func:`flip_average`); ``None`` = as the card
        says, ``False`` = the crop alone (half the cost; see :meth:`with_mirror`)."""
        crops = np.asarray(crops)
        if crops.ndim == 3:
            crops = crops[None]
        if crops.shape[1:] != (self.size, self.size, 3):
            raise ValueError(f"crops must be (N, {self.size}, {self.size}, 3), got {crops.shape}")
        out = np.empty((len(crops), self.card.embedding_size), np.float32)
        # uint8 crops go straight into a uint8 input; any other input dtype is fed float pixels and
        # quantized by the runtime from the tensor's own scale/zero-point
        for i, crop in enumerate(crops):
            out[i] = self._run(crop)
        if not (self.card.flip_average if mirror is None else mirror):
            return l2_normalize(out)
        return self.with_mirror(crops, out)

    def with_mirror(self, crops: np.ndarray, single: np.ndarray) -> np.ndarray:
        """The mirror-averaged embeddings of ``crops``, given their embeddings ``single`` alone
        (so a caller that first looked at the crop alone pays only the mirror pass)."""
        mirrored = np.stack([self._run(crop[:, ::-1]) for crop in np.asarray(crops)])
        return flip_average(single, mirrored)

    def _run(self, crop: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(crop[None])
        return self.net.run(x if self.net.input_dtype == np.uint8 else x.astype(np.float32))[0].reshape(-1)
