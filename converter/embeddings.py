"""Embeddings from a Keras model (float) or a ``.tflite`` (device runtime), and pair scores."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from edge.errors import ModelFileError
from edge.vision.card import AlignmentSpec, ModelCard, load_card
from edge.vision.embedder import Embedder, flip_average, l2_normalize
from edge.vision.scores import head_logits, sigmoid


@dataclass
class LoadedModel:
    """Either kind of model behind one interface: ``embed(crops) → unit vectors``, plus its card."""

    path: Path
    card: ModelCard
    kind: str  # "keras" or "tflite"
    _impl: object

    def embed(self, crops: np.ndarray, desc: str = "embedding") -> np.ndarray:
        if self.kind == "tflite":
            out = [self._impl.embed(crops[i:i + 1]) for i in tqdm(range(len(crops)), desc=desc, unit="img")]
            return np.concatenate(out) if out else np.zeros((0, self.card.embedding_size), np.float32)
        emb = self._keras(crops, desc)
        if self.card.flip_average:
            return flip_average(emb, self._keras(crops[:, :, ::-1], desc + " (mirrored)"))
        return l2_normalize(emb)

    def _keras(self, crops: np.ndarray, desc: str) -> np.ndarray:
        batches = []
        for i in tqdm(range(0, len(crops), 64), desc=desc, unit="batch"):
            batches.append(np.asarray(self._impl(crops[i:i + 64].astype(np.float32), training=False)))
        return np.concatenate(batches)

    @property
    def alignment(self) -> AlignmentSpec:
        return self.card.alignment


def load_model(path: str | Path) -> LoadedModel:
    """Load a ``.tflite`` (with card) or a Siamese ``.keras`` (card built from the model)."""
    path = Path(path)
    if path.suffix == ".tflite":
        emb = Embedder(path)
        return LoadedModel(path, emb.card, "tflite", emb)
    if path.suffix != ".keras":
        raise ModelFileError(f"{path}: not a model this command reads (a .tflite with its card, or a Siamese .keras)")
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file")
    import keras

    import converter.model  # noqa: F401  (registers the custom layers)
    from converter.model import branch_of
    from converter.quantize import card_for

    try:
        siamese = keras.models.load_model(path)
    except (ValueError, OSError, zipfile.BadZipFile) as exc:  # not a Keras 3 archive, or a damaged one
        raise ModelFileError(f"{path}: cannot be loaded as a Siamese .keras model ({type(exc).__name__})") from None
    branch = branch_of(siamese)
    card = load_card(path) if path.with_suffix(".json").is_file() else card_for(siamese, name=path.stem)
    return LoadedModel(path, card, "keras", branch)


def pair_scores(a: np.ndarray, b: np.ndarray, card: ModelCard, scoring: str | None = None) -> np.ndarray:
    """Scores for row-aligned embedding pairs: cosine or the Siamese head (higher = same)."""
    scoring = scoring or card.decision.scoring
    if scoring == "cosine":
        return np.einsum("ij,ij->i", a, b)
    return sigmoid(head_logits(a, b, np.asarray(card.head_weights, np.float32), card.head_bias))
