"""Shared fixtures. Tests that need ../shared (LFW, sample photos) skip with a reason when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SIAMESE_EDGE_SHARED", REPO.parent / "shared"))
LFW = SHARED / "datasets" / "lfw"
LFW_IMAGES = LFW / "lfw-deepfunneled"
SEED = SHARED / "samples" / "seed"
GROUPS = SHARED / "samples" / "groups"
SHIPPED_MODEL = REPO / "models" / "face_resnet29_int8.tflite"


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} not present (../shared is only in the team's checkout and CI)")
    return path


@pytest.fixture(scope="session")
def shared_lfw() -> Path:
    return need(LFW_IMAGES)


@pytest.fixture(scope="session")
def seed_dir() -> Path:
    return need(SEED)


@pytest.fixture(scope="session")
def groups_dir() -> Path:
    return need(GROUPS)


@pytest.fixture(scope="session")
def recognizer():
    """The shipped int8 model through the device pipeline (loaded once per test session)."""
    from edge.vision.pipeline import Recognizer

    return Recognizer(SHIPPED_MODEL)


@pytest.fixture(scope="session")
def detector():
    from edge.vision.detector import FaceDetector

    return FaceDetector("auto")


@pytest.fixture(scope="session")
def faces(tmp_path_factory):
    """Headshots of the demo portraits (tests/portraits.py): real faces on any clone."""
    from tests.portraits import make_faces

    return make_faces(tmp_path_factory.mktemp("faces"))
