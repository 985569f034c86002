"""Read dlib's ResNet weights from face-api's TF.js files (``@vladmandic/face-api``, npm, MIT).

The second source the importer accepts (``--source npm``). face-api ships the same network as
dlib's ``dlib_face_recognition_resnet_model_v1`` converted to TensorFlow.js: a
``*-weights_manifest.json`` naming every tensor (shape, dtype and, here, uint8 quantization with a
per-tensor ``min`` and ``scale``) and a ``.bin`` with the tensors back to back in manifest order.

Layout of the names: ``conv32_down`` (the 7×7 stem), then ``conv32_1..3``, ``conv64_down``,
``conv64_1..3``, ``conv128_down``, ``conv128_1..2``, ``conv256_down``, ``conv256_1..2``,
``conv256_down_out`` — each block with ``conv1`` and ``conv2``, each of those a ``conv``
(``filters`` HWIO, ``bias``) followed by a ``scale`` (``weights``, ``biases``) — and ``fc``
(256×128). That is exactly :data:`converter.model.RESNET29_STAGES`, so the same Keras branch takes
them. Each scale layer is folded into its convolution: ``(conv(x) + bias)·w + b`` =
``conv_w(x) + (bias·w + b)``.

Why the PyPI ``.dat`` stays the default: these weights were rounded to 8 bits per tensor before
publication, so they are a slightly degraded copy; the importer is here for a second, independent
provenance and as a cross-check of :mod:`converter.dlib_import`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

_DTYPE_BYTES = {"uint8": 1, "uint16": 2, "float32": 4, "int32": 4}

BLOCKS = ["conv32_1", "conv32_2", "conv32_3",
          "conv64_down", "conv64_1", "conv64_2", "conv64_3",
          "conv128_down", "conv128_1", "conv128_2",
          "conv256_down", "conv256_1", "conv256_2",
          "conv256_down_out"]


def read_tfjs_weights(manifest: Path) -> dict[str, np.ndarray]:
    """Every tensor of a TF.js weights manifest (and the shards beside it), dequantized to float32."""
    groups = json.loads(Path(manifest).read_text())
    out: dict[str, np.ndarray] = {}
    for group in groups:
        data = b"".join((Path(manifest).parent / p).read_bytes() for p in group["paths"])
        offset = 0
        for w in group["weights"]:
            shape = tuple(w["shape"])
            count = int(np.prod(shape)) if shape else 1
            q = w.get("quantization")
            dtype = q["dtype"] if q else w["dtype"]
            nbytes = count * _DTYPE_BYTES[dtype]
            if offset + nbytes > len(data):
                raise ValueError(f"{manifest}: {w['name']} runs past the end of the weight data")
            raw = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
            offset += nbytes
            if q:  # TF.js affine quantization: value = min + q · scale
                values = q["min"] + raw.astype(np.float64) * q["scale"]
            else:
                values = raw
            out[w["name"]] = np.asarray(values, np.float32).reshape(shape)
        if offset != len(data):
            raise ValueError(f"{manifest}: {len(data) - offset} bytes of weight data left over")
    return out


def _folded(weights: dict[str, np.ndarray], prefix: str) -> tuple[np.ndarray, np.ndarray]:
    filters = weights[f"{prefix}/conv/filters"]
    bias = weights[f"{prefix}/conv/bias"]
    w = weights[f"{prefix}/scale/weights"]
    b = weights[f"{prefix}/scale/biases"]
    return (filters * w).astype(np.float32), (bias * w + b).astype(np.float32)


def folded_convs_from_tfjs(weights: dict[str, np.ndarray]) -> tuple[list[tuple[np.ndarray, np.ndarray]], np.ndarray]:
    """``([(kernel HWIO, bias) per conv in the Keras branch's order], fc 256×128)``."""
    convs = [_folded(weights, "conv32_down")]
    for block in BLOCKS:
        convs.append(_folded(weights, f"{block}/conv1"))
        convs.append(_folded(weights, f"{block}/conv2"))
    return convs, weights["fc"]
