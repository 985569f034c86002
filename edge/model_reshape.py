"""Give a fully convolutional ``.tflite`` a different input height and width, in memory.

Why: BlazeFace full range takes a 192×192 square. A 640×480 camera frame letterboxed into it fills
only 192×144: a quarter of the network's work is spent on black bars. The network is convolutional
up to a final reshape to ``(1, -1, 16)``, so it runs on any input whose sides are multiples of its
total stride (32) — except that its three ×2 upsampling layers were exported with constant output
sizes (12×12, 24×24, 48×48). This module rewrites those constants (and the declared input shape)
in the flatbuffer, so a 4:3 frame runs at 192×160 with the same weights and the same pixels per
face: 2.9 → 2.4 ms on one core here.

Nothing is written to disk: the third-party file stays byte-identical (its sha256 is checked when
it is loaded) and the re-shaped model exists only as bytes handed to the interpreter. The
flatbuffer schema ships inside ai-edge-litert; with another backend (tflite-runtime) the schema is
absent and callers fall back to the square input.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


class ReshapeUnavailable(RuntimeError):
    """The flatbuffer schema (from ai-edge-litert) is not installed, or the model cannot be re-shaped."""


def _schema():
    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError as exc:
        raise ReshapeUnavailable(f"cannot re-shape models without ai-edge-litert's flatbuffer schema: {exc}") from exc
    return schema


def reshaped_model(path: str | Path, height: int, width: int, stride: int = 32) -> bytes:
    """The model at ``path`` with a ``(1, height, width, C)`` input, as flatbuffer bytes.

    Every ``RESIZE_BILINEAR`` / ``RESIZE_NEAREST_NEIGHBOR`` size constant is scaled by
    ``height / H0`` and ``width / W0`` (``H0×W0`` the file's own input). ``height`` and ``width`` must
    be positive multiples of ``stride`` so every resize stays an exact integer ratio. The numbers
    are overwritten in place (same byte length), so nothing is unpacked or rebuilt: cheap in time
    and in Python heap, which matters on a 1 GB Pi.
    """
    if height <= 0 or width <= 0 or height % stride or width % stride:
        raise ValueError(f"input {height}×{width} must be positive multiples of {stride}")
    schema = _schema()
    data = bytearray(Path(path).read_bytes())
    model = schema.Model.GetRootAs(data, 0)
    if model.SubgraphsLength() != 1:
        raise ReshapeUnavailable(f"{path}: expected one subgraph, found {model.SubgraphsLength()}")
    graph = model.Subgraphs(0)
    input_shape = graph.Tensors(graph.Inputs(0)).ShapeAsNumpy()  # a writable view into ``data``
    h0, w0 = int(input_shape[1]), int(input_shape[2])
    resize_ops = (schema.BuiltinOperator.RESIZE_BILINEAR, schema.BuiltinOperator.RESIZE_NEAREST_NEIGHBOR)
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        if max(code.BuiltinCode(), code.DeprecatedBuiltinCode()) not in resize_ops:
            continue
        raw = model.Buffers(graph.Tensors(op.Inputs(1)).Buffer()).DataAsNumpy()
        if not isinstance(raw, np.ndarray) or raw.size != 8:
            raise ReshapeUnavailable(f"{path}: a resize layer has a computed (not constant) size")
        sizes = raw.view(np.int32)
        old_h, old_w = int(sizes[0]), int(sizes[1])
        if (old_h * height) % h0 or (old_w * width) % w0:
            raise ValueError(f"input {height}×{width} does not scale the {old_h}×{old_w} resize of {path} exactly")
        sizes[:] = (old_h * height // h0, old_w * width // w0)
    input_shape[1:3] = (height, width)
    return bytes(data)
