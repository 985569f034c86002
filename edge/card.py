"""The model card: the JSON beside every embedding ``.tflite`` that says how to feed it.

A model is the pair ``NAME.tflite`` + ``NAME.json``. The card is the contract between the converter
(which writes it) and the device (which obeys it): input size and colour order, the alignment
template, the embedding size, the Siamese head's weights, the shipped decision threshold and
margin, and where the weights came from.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edge.errors import ModelFileError


@dataclass(frozen=True)
class AlignmentSpec:
    """How to cut the face crop the model expects (see :mod:`edge.alignment`)."""

    template: str = "dlib5"
    size: int = 150
    padding: float = 0.25


@dataclass(frozen=True)
class Decision:
    """Open-set decision rule: accept when score ≥ threshold and best − second ≥ margin."""

    scoring: str = "head"  # "head" (Siamese sigmoid) or "cosine"
    threshold: float = 0.5
    margin: float = 0.0


@dataclass(frozen=True)
class ModelCard:
    name: str
    input_size: int
    colour: str  # "RGB" or "BGR": channel order of the uint8 input
    embedding_size: int
    alignment: AlignmentSpec
    decision: Decision
    head_weights: tuple[float, ...] = ()
    head_bias: float = 0.0
    flip_average: bool = False  # embed the crop and its mirror image, average the unit vectors
    input_dtype: str = "uint8"
    normalization: str = "inside the graph"
    provenance: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<card>") -> ModelCard:
        try:
            data = dict(data)
            data["alignment"] = AlignmentSpec(**data.get("alignment", {}))
            data["decision"] = Decision(**data.get("decision", {}))
            data["head_weights"] = tuple(float(v) for v in data.get("head_weights", ()))
            return cls(**data)
        except TypeError as exc:
            raise ModelFileError(f"{source}: invalid model card ({exc})") from None


def card_path(model_path: str | Path) -> Path:
    return Path(model_path).with_suffix(".json")


def load_card(model_path: str | Path) -> ModelCard:
    """Load the card beside ``model_path``; a missing or malformed card is a :class:`ModelFileError`."""
    path = card_path(model_path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelFileError(f"{path}: model card missing (every .tflite needs its .json card beside it)") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{path}: cannot read model card ({exc})") from None
    return ModelCard.from_dict(data, str(path))


def save_card(card: ModelCard, model_path: str | Path) -> Path:
    path = card_path(model_path)
    tmp = path.with_suffix(".json.part")
    tmp.write_text(card.to_json(), encoding="utf-8")
    tmp.replace(path)
    return path
