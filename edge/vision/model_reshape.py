"""Give a fully convolutional ``.tflite`` a different input height and width, in memory.

Why: BlazeFace full range takes a 192×192 square. A 640×480 camera frame letterboxed into it fills
only 192×144: a quarter of the network's work is spent on black bars. The network is convolutional
up to a final reshape to ``(1, -1, 16)``, so it runs on any input whose sides are multiples of its
total stride (32) — except that its three ×2 upsampling layers were exported with constant output
sizes (12×12, 24×24, 48×48). This module rewrites those constants and the declared input shape, so
a 4:3 frame runs at 192×160 with the same weights and the same pixels per face, and a sixth less
work than the letterboxed square (the measured gain: README's performance table).

Nothing is written to disk: the third-party file stays byte-identical (its sha256 is checked when it
is loaded) and the re-shaped model exists only as bytes handed to the interpreter. The numbers are
overwritten in place (same byte length), found by walking the flatbuffer with :mod:`struct` — the
generated TFLite schema module would do the same walk but costs megabytes of resident memory to
import, too much on a Pi for five integers.
"""

from __future__ import annotations

import struct
from pathlib import Path

RESIZE_OPS = (23, 97)
"""TFLite builtin codes of RESIZE_BILINEAR and RESIZE_NEAREST_NEIGHBOR (schema.fbs, stable)."""


class ReshapeUnavailable(RuntimeError):
    """The model cannot be re-shaped (not a single-subgraph TFLite flatbuffer with constant resizes)."""


class _Table:
    """A flatbuffer table: fields are looked up through its vtable (schema.fbs gives the slots)."""

    def __init__(self, buf: bytearray, pos: int) -> None:
        self.buf, self.pos = buf, pos
        self.vtable = pos - struct.unpack_from("<i", buf, pos)[0]
        self.vtable_size = struct.unpack_from("<H", buf, self.vtable)[0]

    def _field(self, slot: int) -> int:
        entry = 4 + 2 * slot
        if entry >= self.vtable_size:
            return 0
        offset = struct.unpack_from("<H", self.buf, self.vtable + entry)[0]
        return self.pos + offset if offset else 0

    def scalar(self, slot: int, fmt: str, default: int = 0) -> int:
        at = self._field(slot)
        return struct.unpack_from("<" + fmt, self.buf, at)[0] if at else default

    def vector(self, slot: int) -> tuple[int, int]:
        """``(start, length)`` of a vector field; ``(0, 0)`` when absent."""
        at = self._field(slot)
        if not at:
            return 0, 0
        start = at + struct.unpack_from("<I", self.buf, at)[0]
        return start + 4, struct.unpack_from("<I", self.buf, start)[0]

    def ints(self, slot: int) -> list[int]:
        start, n = self.vector(slot)
        return list(struct.unpack_from(f"<{n}i", self.buf, start)) if n else []

    def table(self, slot: int, index: int) -> _Table:
        start, n = self.vector(slot)
        if index >= n:
            raise ReshapeUnavailable(f"flatbuffer vector {slot} has {n} entries, wanted #{index}")
        at = start + 4 * index
        return _Table(self.buf, at + struct.unpack_from("<I", self.buf, at)[0])


# slots in tensorflow/lite/schema/schema.fbs
_MODEL_OPCODES, _MODEL_SUBGRAPHS, _MODEL_BUFFERS = 1, 2, 4
_CODE_DEPRECATED, _CODE_BUILTIN = 0, 3
_GRAPH_TENSORS, _GRAPH_INPUTS, _GRAPH_OPERATORS = 0, 1, 3
_TENSOR_SHAPE, _TENSOR_BUFFER = 0, 2
_OP_OPCODE, _OP_INPUTS = 0, 1
_BUFFER_DATA = 0


def reshaped_model(path: str | Path, height: int, width: int, stride: int = 32) -> bytes:
    """The model at ``path`` with a ``(1, height, width, C)`` input, as flatbuffer bytes.

    Every ``RESIZE_BILINEAR`` / ``RESIZE_NEAREST_NEIGHBOR`` size constant is scaled by
    ``height / H0`` and ``width / W0`` (``H0×W0`` the file's own input). ``height`` and ``width`` must
    be positive multiples of ``stride`` so every resize stays an exact integer ratio.
    """
    if height <= 0 or width <= 0 or height % stride or width % stride:
        raise ValueError(f"input {height}×{width} must be positive multiples of {stride}")
    data = bytearray(Path(path).read_bytes())
    try:
        return _reshape(data, height, width, str(path))
    except (struct.error, IndexError) as exc:
        raise ReshapeUnavailable(f"{path}: not a TFLite flatbuffer this can re-shape ({exc})") from exc


def _reshape(data: bytearray, height: int, width: int, name: str) -> bytes:
    if data[4:8] != b"TFL3":
        raise ReshapeUnavailable(f"{name}: not a TFLite flatbuffer")
    model = _Table(data, struct.unpack_from("<I", data, 0)[0])
    if model.vector(_MODEL_SUBGRAPHS)[1] != 1:
        raise ReshapeUnavailable(f"{name}: expected one subgraph")
    graph = model.table(_MODEL_SUBGRAPHS, 0)
    input_tensor = graph.table(_GRAPH_TENSORS, graph.ints(_GRAPH_INPUTS)[0])
    shape_at, rank = input_tensor.vector(_TENSOR_SHAPE)
    if rank != 4:
        raise ReshapeUnavailable(f"{name}: input is not NHWC")
    _, h0, w0, _ = struct.unpack_from("<4i", data, shape_at)
    for i in range(graph.vector(_GRAPH_OPERATORS)[1]):
        op = graph.table(_GRAPH_OPERATORS, i)
        code = model.table(_MODEL_OPCODES, op.scalar(_OP_OPCODE, "I"))
        if max(code.scalar(_CODE_DEPRECATED, "b"), code.scalar(_CODE_BUILTIN, "i")) not in RESIZE_OPS:
            continue
        size_tensor = graph.table(_GRAPH_TENSORS, op.ints(_OP_INPUTS)[1])
        buffer = model.table(_MODEL_BUFFERS, size_tensor.scalar(_TENSOR_BUFFER, "I"))
        at, n = buffer.vector(_BUFFER_DATA)
        if n != 8:
            raise ReshapeUnavailable(f"{name}: a resize layer has a computed (not constant) size")
        old_h, old_w = struct.unpack_from("<2i", data, at)
        if (old_h * height) % h0 or (old_w * width) % w0:
            raise ValueError(f"input {height}×{width} does not scale the {old_h}×{old_w} resize of {name} exactly")
        struct.pack_into("<2i", data, at, old_h * height // h0, old_w * width // w0)
    struct.pack_into("<2i", data, shape_at + 4, height, width)
    return bytes(data)
