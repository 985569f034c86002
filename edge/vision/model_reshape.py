"""Give a fully convolutional ``.tflite`` a different input height and width, in memory.

Why: BlazeFace full range takes a 192×192 square. A 640×480 camera frame letterboxed into it fills
only 192×144: a quarter of the network's work is spent on black bars. The network is convolutional
up to a final reshape to ``(1, -1, 16)``, so it runs on other input sizes — except that its three ×2
upsampling layers were exported with constant output sizes (12×12, 24×24, 48×48), which must match
the skip connections they are added to. This module rewrites those constants and the declared input
shape, so a 4:3 frame runs at 192×144 with the same weights, the same pixels per face and no bars.

Sides that are multiples of 32 halve evenly down to the bottleneck and only need the numbers changed.
A side of 144 does not: the bottleneck has 5 rows (144/32 = 4.5, rounded up by the stride) and the
skip it is upsampled onto has 9. There the upsampling keeps its exact ×2 (10 rows, each sampled
where the trained network samples: row ``i`` over the skip's row ``i``) and a ``SLICE`` keeps the
first 9, the rows over the skip's 9; the tenth would lie half a row past the skip's last row.

Nothing is written to disk: the third-party file stays byte-identical (its sha256 is checked when it
is loaded) and the re-shaped model exists only as bytes handed to the interpreter. Numbers are
overwritten in place, found by walking the flatbuffer with :mod:`struct`; the few new objects a
``SLICE`` needs (an operator, three tensors, two constant buffers, new vectors listing them, and the
model and subgraph tables that point at those vectors) are laid out in front of the old contents,
from where flatbuffer offsets, which only point forward, can reach everything. The generated TFLite
schema module would do the same but costs megabytes of resident memory to import — too much on a Pi.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from pathlib import Path

RESIZE_OPS = (23, 97)
"""TFLite builtin codes of RESIZE_BILINEAR and RESIZE_NEAREST_NEIGHBOR (schema.fbs, stable)."""

SLICE_OP, SLICE_OPTIONS, INT32 = 65, 48, 2
"""schema.fbs: BuiltinOperator.SLICE, BuiltinOptions.SliceOptions, TensorType.INT32."""

HEADER = 8
"""A flatbuffer file starts with the root table's offset and the file identifier (``TFL3``)."""


class ReshapeUnavailable(RuntimeError):
    """The model cannot be re-shaped (not a single-subgraph TFLite flatbuffer with constant resizes)."""


class _Table:
    """A flatbuffer table: fields are looked up through its vtable (schema.fbs gives the slots)."""

    def __init__(self, buf: bytearray, pos: int) -> None:
        self.buf, self.pos = buf, pos
        self.vtable = pos - struct.unpack_from("<i", buf, pos)[0]
        self.vtable_size = struct.unpack_from("<H", buf, self.vtable)[0]

    @property
    def slots(self) -> int:
        return (self.vtable_size - 4) // 2

    def field(self, slot: int) -> int:
        """Absolute position of a field, 0 when absent."""
        entry = 4 + 2 * slot
        if entry >= self.vtable_size:
            return 0
        offset = struct.unpack_from("<H", self.buf, self.vtable + entry)[0]
        return self.pos + offset if offset else 0

    def scalar(self, slot: int, fmt: str, default: int = 0) -> int:
        at = self.field(slot)
        return struct.unpack_from("<" + fmt, self.buf, at)[0] if at else default

    def target(self, slot: int) -> int:
        """Absolute position of what a reference field points at (a table, vector or string)."""
        at = self.field(slot)
        return at + struct.unpack_from("<I", self.buf, at)[0] if at else 0

    def vector(self, slot: int) -> tuple[int, int]:
        """``(start, length)`` of a vector field; ``(0, 0)`` when absent."""
        start = self.target(slot)
        if not start:
            return 0, 0
        return start + 4, struct.unpack_from("<I", self.buf, start)[0]

    def ints(self, slot: int) -> list[int]:
        start, n = self.vector(slot)
        return list(struct.unpack_from(f"<{n}i", self.buf, start)) if n else []

    def targets(self, slot: int) -> list[int]:
        """Absolute positions of every table a vector-of-tables field lists."""
        start, n = self.vector(slot)
        return [start + 4 * i + struct.unpack_from("<I", self.buf, start + 4 * i)[0] for i in range(n)]

    def table(self, slot: int, index: int) -> _Table:
        found = self.targets(slot)
        if index >= len(found):
            raise ReshapeUnavailable(f"flatbuffer vector {slot} has {len(found)} entries, wanted #{index}")
        return _Table(self.buf, found[index])


# slots in tensorflow/lite/schema/schema.fbs
_MODEL_VERSION, _MODEL_OPCODES, _MODEL_SUBGRAPHS, _MODEL_BUFFERS = 0, 1, 2, 4
_CODE_DEPRECATED, _CODE_VERSION, _CODE_BUILTIN = 0, 2, 3
_GRAPH_TENSORS, _GRAPH_INPUTS, _GRAPH_OPERATORS, _GRAPH_DEBUG_INDEX = 0, 1, 3, 5
_TENSOR_SHAPE, _TENSOR_TYPE, _TENSOR_BUFFER, _TENSOR_NAME = 0, 1, 2, 3
_OP_OPCODE, _OP_INPUTS, _OP_OUTPUTS, _OP_OPTIONS_TYPE, _OP_OPTIONS = 0, 1, 2, 3, 4
_BUFFER_DATA, _BUFFER_OFFSET = 0, 1

_SCALAR_SLOTS = {"model": {_MODEL_VERSION: 4}, "subgraph": {_GRAPH_DEBUG_INDEX: 4}}
"""Scalar fields (slot: bytes) of the two tables copied whole; every other field they have is a reference."""

_KNOWN_SLOTS = {"model": 8, "subgraph": 6}
"""Fields schema.fbs defines for them today; a newer file with more is left alone (ReshapeUnavailable)."""


@dataclass(frozen=True)
class _Old:
    """A reference to an object of the original file (by its position there)."""

    pos: int


@dataclass(frozen=True)
class _New:
    """A reference to an object written into the front section (by the name it was written under)."""

    name: str


class _Front:
    """New flatbuffer objects laid out front to back, to be inserted right after the file's header.

    Why front to back: flatbuffer offsets are unsigned and point forward, so a new object can refer
    to an old one only from in front of it, and a new object must be written before those it
    refers to. References are recorded as they are written and filled in by :meth:`bytes`, once
    the section's length (the distance every old object moves) is known.
    """

    def __init__(self) -> None:
        self.out = bytearray()
        self.names: dict[str, int] = {}
        self._refs: list[tuple[int, _Old | _New]] = []

    def _align(self, n: int, extra: int = 0) -> None:
        """Pad so that ``extra`` bytes on, the absolute position is a multiple of ``n``."""
        self.out.extend(b"\0" * (-(HEADER + len(self.out) + extra) % n))

    def _mark(self, name: str) -> None:
        self.names[name] = HEADER + len(self.out)

    def _ref(self, target: _Old | _New) -> None:
        self._refs.append((len(self.out), target))
        self.out.extend(b"\0\0\0\0")

    def table(self, name: str, fields: dict[int, bytes | _Old | _New]) -> None:
        """A table whose fields are raw little-endian scalars (``bytes``) or references."""
        slots = max(fields) + 1 if fields else 0
        self._align(4)
        vtable_at = len(self.out)
        self.out.extend(b"\0" * (4 + 2 * slots))
        self._align(8)  # the table: its soffset, then 8-byte fields first, each aligned to its size
        self._mark(name)
        start = len(self.out)
        offsets = {}
        self.out.extend(struct.pack("<i", start - vtable_at))
        for slot, value in sorted(fields.items(), key=lambda kv: -(len(kv[1]) if isinstance(kv[1], bytes) else 4)):
            size = len(value) if isinstance(value, bytes) else 4
            self._align(size)
            offsets[slot] = len(self.out) - start
            if isinstance(value, bytes):
                self.out.extend(value)
            else:
                self._ref(value)
        struct.pack_into("<HH", self.out, vtable_at, 4 + 2 * slots, len(self.out) - start)
        for slot, offset in offsets.items():
            struct.pack_into("<H", self.out, vtable_at + 4 + 2 * slot, offset)

    def refs(self, name: str, targets: list[_Old | _New]) -> None:
        """A vector of tables."""
        self._align(4)
        self._mark(name)
        self.out.extend(struct.pack("<I", len(targets)))
        for target in targets:
            self._ref(target)

    def ints(self, name: str, values: list[int]) -> None:
        """A vector of int32."""
        self._align(4)
        self._mark(name)
        self.out.extend(struct.pack(f"<I{len(values)}i", len(values), *values))

    def data(self, name: str, raw: bytes) -> None:
        """A vector of bytes starting on a multiple of 16 (schema.fbs: a buffer's data is force_align 16)."""
        self._align(16, extra=4)
        self._mark(name)
        self.out.extend(struct.pack("<I", len(raw)) + raw)

    def string(self, name: str, text: str) -> None:
        raw = text.encode()
        self._align(4)
        self._mark(name)
        self.out.extend(struct.pack("<I", len(raw)) + raw + b"\0")

    def spliced(self, old: bytearray, root: str) -> bytes:
        """The whole file: header (root now ``root``), this section, then the old contents."""
        self._align(16)  # old contents move by a multiple of 16: buffer data keeps its alignment
        shift = len(self.out)
        for at, target in self._refs:
            goal = target.pos + shift if isinstance(target, _Old) else self.names[target.name]
            if goal <= HEADER + at:
                raise ReshapeUnavailable(f"a flatbuffer reference would point backward ({target})")
            struct.pack_into("<I", self.out, at, goal - HEADER - at)
        head = struct.pack("<I", self.names[root]) + bytes(old[4:HEADER])
        return head + bytes(self.out) + bytes(old[HEADER:])


@dataclass(frozen=True)
class _Cut:
    """An upsampling whose exact ×k output is larger than the skip connection it feeds: slice it."""

    op_index: int
    output: int  # the tensor the slice writes (the upsampling's original output)
    channels: int
    height: int  # the rows and columns kept (the skip connection's)
    width: int
    full_height: int  # the upsampling's own output
    full_width: int


def reshaped_model(path: str | Path, height: int, width: int, stride: int = 16) -> bytes:
    """The model at ``path`` with a ``(1, height, width, C)`` input, as flatbuffer bytes.

    Every ``RESIZE_BILINEAR`` / ``RESIZE_NEAREST_NEIGHBOR`` keeps its own integer factor (output over
    declared input, ×2 in BlazeFace) on the input it now gets; where that overshoots the size the
    skip connection needs (``H_out × height / H0``), a ``SLICE`` keeps the top-left part. ``height``
    and ``width`` must be positive multiples of ``stride``.
    """
    if height <= 0 or width <= 0 or height % stride or width % stride:
        raise ValueError(f"input {height}×{width} must be positive multiples of {stride}")
    data = bytearray(Path(path).read_bytes())
    try:
        return _reshape(data, height, width, str(path))
    except (struct.error, IndexError) as exc:
        raise ReshapeUnavailable(f"{path}: not a TFLite flatbuffer this can re-shape ({exc})") from exc


def _reshape(data: bytearray, height: int, width: int, name: str) -> bytes:
    if data[4:HEADER] != b"TFL3":
        raise ReshapeUnavailable(f"{name}: not a TFLite flatbuffer")
    model = _Table(data, struct.unpack_from("<I", data, 0)[0])
    if model.vector(_MODEL_SUBGRAPHS)[1] != 1:
        raise ReshapeUnavailable(f"{name}: expected one subgraph")
    graph = model.table(_MODEL_SUBGRAPHS, 0)
    tensors = graph.targets(_GRAPH_TENSORS)
    input_tensor = _Table(data, tensors[graph.ints(_GRAPH_INPUTS)[0]])
    shape_at, rank = input_tensor.vector(_TENSOR_SHAPE)
    if rank != 4:
        raise ReshapeUnavailable(f"{name}: input is not NHWC")
    _, h0, w0, _ = struct.unpack_from("<4i", data, shape_at)
    cuts = []
    for i, op_pos in enumerate(graph.targets(_GRAPH_OPERATORS)):
        op = _Table(data, op_pos)
        if _builtin_code(model.table(_MODEL_OPCODES, op.scalar(_OP_OPCODE, "I"))) not in RESIZE_OPS:
            continue
        source, size = (_Table(data, tensors[t]) for t in op.ints(_OP_INPUTS)[:2])
        output = op.ints(_OP_OUTPUTS)[0]
        buffer = model.table(_MODEL_BUFFERS, size.scalar(_TENSOR_BUFFER, "I"))
        at, n = buffer.vector(_BUFFER_DATA)
        if n != 8:
            raise ReshapeUnavailable(f"{name}: a resize layer has a computed (not constant) size")
        old_h, old_w = struct.unpack_from("<2i", data, at)
        _, in_h, in_w, channels = source.ints(_TENSOR_SHAPE)
        if old_h % in_h or old_w % in_w:
            raise ReshapeUnavailable(f"{name}: a resize layer does not scale by an integer factor")
        if (old_h * height) % h0 or (old_w * width) % w0:
            raise ValueError(f"input {height}×{width} does not scale the {old_h}×{old_w} resize of {name} exactly")
        need_h, need_w = old_h * height // h0, old_w * width // w0  # what the skip connection has
        fh, fw = old_h // in_h, old_w // in_w
        new_h, new_w = fh * math.ceil(need_h / fh), fw * math.ceil(need_w / fw)  # ×k of what arrives
        struct.pack_into("<2i", data, at, new_h, new_w)
        if (new_h, new_w) != (need_h, need_w):
            cuts.append(_Cut(i, output, channels, need_h, need_w, new_h, new_w))
    struct.pack_into("<2i", data, shape_at + 4, height, width)
    if not cuts:
        return bytes(data)
    return _with_slices(data, model, graph, cuts, name)


def _with_slices(data: bytearray, model: _Table, graph: _Table, cuts: list[_Cut], name: str) -> bytes:
    """The file with a SLICE after each upsampling in ``cuts`` (their outputs re-pointed in place).

    Cut ``n`` adds tensors ``T+3n`` (the upsampling's full output), ``T+3n+1`` and ``T+3n+2`` (the
    slice's begin and size, in buffers ``B+2n`` and ``B+2n+1``), ``T`` and ``B`` being the file's
    own counts: new objects go at the ends of their vectors, so every old index stays valid."""
    for table, kind in ((model, "model"), (graph, "subgraph")):
        if any(table.field(s) for s in range(_KNOWN_SLOTS[kind], table.slots)):
            raise ReshapeUnavailable(f"{name}: {kind} table has fields newer than this re-shaper knows")
    buffers = model.targets(_MODEL_BUFFERS)
    if any(_Table(data, b).field(_BUFFER_OFFSET) for b in buffers):
        raise ReshapeUnavailable(f"{name}: model keeps buffers outside the flatbuffer")
    tensors, operators, codes = (graph.targets(_GRAPH_TENSORS), graph.targets(_GRAPH_OPERATORS),
                                 model.targets(_MODEL_OPCODES))
    code_of = [_builtin_code(_Table(data, c)) for c in codes]
    slice_code = code_of.index(SLICE_OP) if SLICE_OP in code_of else len(codes)
    first_tensor, first_buffer = len(tensors), len(buffers)
    slice_after = {cut.op_index: n for n, cut in enumerate(cuts)}

    front = _Front()
    fields = {s: _reference_or_scalar(model, s, "model") for s in range(model.slots) if model.field(s)}
    fields |= {_MODEL_OPCODES: _New("codes"), _MODEL_SUBGRAPHS: _New("graphs"), _MODEL_BUFFERS: _New("buffers")}
    front.table("model", fields)
    front.refs("graphs", [_New("graph")])
    fields = {s: _reference_or_scalar(graph, s, "subgraph") for s in range(graph.slots) if graph.field(s)}
    fields |= {_GRAPH_TENSORS: _New("tensors"), _GRAPH_OPERATORS: _New("operators")}
    front.table("graph", fields)
    front.refs("tensors", [_Old(t) for t in tensors]
               + [_New(f"tensor{first_tensor + i}") for i in range(3 * len(cuts))])
    ops: list[_Old | _New] = []
    for i, op in enumerate(operators):
        ops.append(_Old(op))
        if i in slice_after:
            ops.append(_New(f"slice{slice_after[i]}"))
    front.refs("operators", ops)
    front.refs("codes", [_Old(c) for c in codes] + ([_New("slice code")] if slice_code == len(codes) else []))
    front.refs("buffers", [_Old(b) for b in buffers]
               + [_New(f"buffer{first_buffer + i}") for i in range(2 * len(cuts))])
    if slice_code == len(codes):
        front.table("slice code", {_CODE_DEPRECATED: struct.pack("<b", SLICE_OP),
                                   _CODE_BUILTIN: struct.pack("<i", SLICE_OP)})
    for n, cut in enumerate(cuts):
        wide, begin, size = (first_tensor + 3 * n + k for k in range(3))
        struct.pack_into("<i", data, _Table(data, operators[cut.op_index]).vector(_OP_OUTPUTS)[0], wide)
        # the slice's output is declared at its real size: LiteRT's own SLICE kernel (no XNNPACK)
        # checks constant slices against it
        output = _Table(data, tensors[cut.output])
        struct.pack_into("<4i", data, output.vector(_TENSOR_SHAPE)[0], 1, cut.height, cut.width, cut.channels)
        front.table(f"slice{n}", {_OP_OPCODE: struct.pack("<I", slice_code), _OP_INPUTS: _New(f"ins{n}"),
                                  _OP_OUTPUTS: _New(f"outs{n}"), _OP_OPTIONS_TYPE: struct.pack("<B", SLICE_OPTIONS),
                                  _OP_OPTIONS: _New(f"options{n}")})
        front.ints(f"ins{n}", [wide, begin, size])
        front.ints(f"outs{n}", [cut.output])
        front.table(f"options{n}", {})
        # the resize's full ×k output: same type as the tensor it used to write
        front.table(f"tensor{wide}", {_TENSOR_SHAPE: _New(f"shape{wide}"),
                                      _TENSOR_TYPE: struct.pack("<b", output.scalar(_TENSOR_TYPE, "b")),
                                      _TENSOR_NAME: _New(f"name{wide}")})
        front.ints(f"shape{wide}", [1, cut.full_height, cut.full_width, cut.channels])
        front.string(f"name{wide}", f"reshape/upsampled_{n}")
        for k, (index, role, values) in enumerate(((begin, "begin", [0, 0, 0, 0]),
                                                   (size, "size", [1, cut.height, cut.width, cut.channels]))):
            buffer = first_buffer + 2 * n + k
            front.table(f"tensor{index}", {_TENSOR_SHAPE: _New(f"shape{index}"),
                                           _TENSOR_TYPE: struct.pack("<b", INT32),
                                           _TENSOR_BUFFER: struct.pack("<I", buffer),
                                           _TENSOR_NAME: _New(f"name{index}")})
            front.ints(f"shape{index}", [4])
            front.string(f"name{index}", f"reshape/slice_{n}_{role}")
            front.table(f"buffer{buffer}", {_BUFFER_DATA: _New(f"data{buffer}")})
            front.data(f"data{buffer}", struct.pack("<4i", *values))
    return front.spliced(data, "model")


def _builtin_code(code: _Table) -> int:
    """An OperatorCode's builtin operator (files of before schema v3a keep it in the deprecated int8)."""
    return max(code.scalar(_CODE_DEPRECATED, "b"), code.scalar(_CODE_BUILTIN, "i"))


def _reference_or_scalar(table: _Table, slot: int, kind: str) -> bytes | _Old:
    """A field of an old table as the copy in front needs it: a scalar's bytes, or where it points."""
    size = _SCALAR_SLOTS[kind].get(slot)
    if size:
        at = table.field(slot)
        return bytes(table.buf[at:at + size])
    return _Old(table.target(slot))
