"""The model card: the JSON beside every embedding ``.tflite`` that says how to feed it.

A model is the pair ``NAME.tflite`` + ``NAME.json``. The card is the contract between the converter
(which writes it) and the device (which obeys it): input size and colour order, the alignment
template, the embedding size, the Siamese head's weights, the shipped decision threshold and
margin, and where the weights came from.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edge.errors import ModelFileError


@dataclass(frozen=True)
class AlignmentSpec:
    """How to cut the face crop the model expects (see :mod:`edge.vision.alignment`)."""

    template: str = "dlib5"
    size: int = 150
    padding: float = 0.25


@dataclass(frozen=True)
class Decision:
    """Open-set decision rule: accept when score ≥ threshold and best − second ≥ margin.

    ``mirror_band`` (cards with ``flip_average``): the device may score a probe from its crop alone
    and embed the mirror image only for a *close call* — a best score within the band of the
    threshold, or a lead over the runner-up within the band of the margin. Derived from data by
    ``bench/bench_adaptive_mirror.py`` so that the decisions equal the always-mirrored ones; ``None``
    mirrors every face.
    """

    scoring: str = "head"  # "head" (Siamese sigmoid) or "cosine"
    threshold: float = 0.5
    margin: float = 0.0
    mirror_band: float | None = None

    def close_call(self, best: float, second: float, band: float) -> bool:
        """Whether the mirror pass could change this decision (see the class docstring)."""
        if abs(best - self.threshold) < band:
            return True
        return best >= self.threshold - band and abs((best - second) - self.margin) < band


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
        """Build and validate a card: every field the device uses is checked here, so a bad card is
        refused by ``check-config`` and at start, never at the first face."""
        def bad(key: str, why: str) -> ModelFileError:
            return ModelFileError(f"{source}: invalid model card: {key}: {why}")

        if not isinstance(data, dict):
            raise bad("(top level)", "expected a JSON object")
        try:
            data = dict(data)
            for key in ("alignment", "decision"):
                if not isinstance(data.get(key, {}), dict):
                    raise bad(key, f"{data[key]!r} should be an object")
            data["alignment"] = AlignmentSpec(**data.get("alignment", {}))
            data["decision"] = Decision(**data.get("decision", {}))
            weights = data.get("head_weights", ())
            if not isinstance(weights, list | tuple) or not all(_number(v) for v in weights):
                raise bad("head_weights", "should be a list of numbers")
            data["head_weights"] = tuple(float(v) for v in weights)
            card = cls(**data)
        except TypeError as exc:
            raise ModelFileError(f"{source}: invalid model card ({exc})") from None
        card._validate(bad)
        return card

    def _validate(self, bad) -> None:  # noqa: ANN001 - the error factory of from_dict
        from edge.vision.alignment import TEMPLATE_NAMES

        for key in ("input_size", "embedding_size"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 4096:
                raise bad(key, f"{value!r} should be a whole number from 1 to 4096")
        if self.colour not in ("RGB", "BGR"):
            raise bad("colour", f"{self.colour!r} should be 'RGB' or 'BGR'")
        a = self.alignment
        if a.template not in TEMPLATE_NAMES:
            raise bad("alignment.template", f"{a.template!r} should be one of {', '.join(TEMPLATE_NAMES)}")
        if isinstance(a.size, bool) or not isinstance(a.size, int) or a.size != self.input_size:
            raise bad("alignment.size", f"{a.size!r} should equal input_size ({self.input_size})")
        if not _number(a.padding) or not 0 <= a.padding < 1:
            raise bad("alignment.padding", f"{a.padding!r} should be a number from 0 to 1")
        d = self.decision
        if d.scoring not in ("head", "cosine"):
            raise bad("decision.scoring", f"{d.scoring!r} should be 'head' or 'cosine'")
        for key in ("threshold", "margin"):
            if not _number(getattr(d, key)) or not -1 <= getattr(d, key) <= 1:
                raise bad(f"decision.{key}", f"{getattr(d, key)!r} should be a number from -1 to 1")
        if d.mirror_band is not None and (not _number(d.mirror_band) or not 0 <= d.mirror_band <= 1):
            raise bad("decision.mirror_band", f"{d.mirror_band!r} should be null or a number from 0 to 1")
        if d.scoring == "head" and len(self.head_weights) != self.embedding_size:
            raise bad("head_weights", f"{len(self.head_weights)} weights for a {self.embedding_size}-d embedding")
        if not _number(self.head_bias):
            raise bad("head_bias", f"{self.head_bias!r} should be a number")
        if not isinstance(self.flip_average, bool):
            raise bad("flip_average", f"{self.flip_average!r} should be true or false")
        if self.input_dtype not in ("uint8", "int8", "float32"):
            raise bad("input_dtype", f"{self.input_dtype!r} should be uint8, int8 or float32")


def _number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def card_path(model_path: str | Path) -> Path:
    return Path(model_path).with_suffix(".json")


def load_card(model_path: str | Path) -> ModelCard:
    """Load the card beside ``model_path``; a missing or malformed card is a :class:`ModelFileError`."""
    path = card_path(model_path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelFileError(f"{path}: model card missing (every .tflite needs its .json card beside it)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ModelFileError(f"{path}: cannot read model card ({exc})") from None
    return ModelCard.from_dict(data, str(path))


def save_card(card: ModelCard, model_path: str | Path) -> Path:
    path = card_path(model_path)
    tmp = path.with_suffix(".json.part")
    tmp.write_text(card.to_json(), encoding="utf-8")
    tmp.replace(path)
    return path
