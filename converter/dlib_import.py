"""Read dlib's ``dlib_face_recognition_resnet_model_v1.dat`` (float32) without dlib.

dlib serialises a network from the input layer outwards. Integers are written as one byte
``(sign << 7) | n_bytes`` followed by ``n_bytes`` little-endian bytes; strings as an integer length
and the bytes; tensors (version 2) as ``n, k, nr, nc`` and raw little-endian float32 data in
``(n, k, nr, nc)`` order. A ``con_4`` layer's ``params`` tensor holds the filters
``(num_filters, k, nr, nc)`` followed by the biases; an ``affine_`` layer's holds gamma then beta;
``fc_2`` holds a ``(num_inputs, num_outputs)`` matrix. We locate each parameterised layer by its
length-prefixed type name, read its parameters, and check every count against the architecture —
so a file that does not parse exactly is refused rather than loaded wrongly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

INPUT_MEAN_RGB = (122.782, 117.001, 104.298)
INPUT_SCALE = 1.0 / 256.0


@dataclass
class DlibConv:
    filters: np.ndarray  # (num_filters, k, nr, nc) float32
    bias: np.ndarray  # (num_filters,)
    stride: int
    padding: int


@dataclass
class DlibResNet:
    convs: list[DlibConv]
    affines: list[tuple[np.ndarray, np.ndarray]]  # (gamma, beta) per conv
    fc: np.ndarray  # (256, 128)
    input_mean: tuple[float, float, float]


class DlibFormatError(ValueError):
    """The file does not have the structure of dlib's face recognition ResNet."""


class _Reader:
    def __init__(self, data: bytes, pos: int) -> None:
        self.d, self.p = data, pos

    def int(self) -> int:
        c = self.d[self.p]
        n = c & 0x0F
        v = int.from_bytes(self.d[self.p + 1:self.p + 1 + n], "little")
        self.p += 1 + n
        return -v if c & 0x80 else v

    def float(self) -> float:
        mantissa, exponent = self.int(), self.int()
        return float(np.ldexp(float(mantissa), exponent))

    def tensor(self) -> np.ndarray:
        version = self.int()
        if version != 2:
            raise DlibFormatError(f"tensor version {version} at byte {self.p} (expected 2)")
        shape = tuple(self.int() for _ in range(4))
        count = int(np.prod(shape))
        arr = np.frombuffer(self.d, dtype="<f4", count=count, offset=self.p).copy()
        self.p += 4 * count
        return arr.reshape(shape)


def _layers(data: bytes) -> list[tuple[str, int]]:
    """(type name, offset just after the name) for every length-prefixed layer type name."""
    out = []
    for m in re.finditer(rb"(con_4|affine_|fc_2|input_rgb_image_sized)", data):
        start = m.start()
        if start >= 2 and data[start - 2] == 0x01 and data[start - 1] == len(m.group()):
            out.append((m.group().decode(), m.end()))
    return out


def read_dlib_resnet(path: str | Path) -> DlibResNet:
    """Parse the .dat file and return its weights; raises :class:`DlibFormatError` if unexpected."""
    data = Path(path).read_bytes()
    if b"loss_metric_" not in data[:32]:
        raise DlibFormatError(f"{path}: not a dlib loss_metric network")
    convs: list[DlibConv] = []
    affines: list[tuple[np.ndarray, np.ndarray]] = []
    fc = None
    mean = INPUT_MEAN_RGB
    for name, pos in _layers(data):
        r = _Reader(data, pos)
        if name == "input_rgb_image_sized":
            mean = (r.float(), r.float(), r.float())
        elif name == "con_4":
            params = r.tensor().reshape(-1)
            nf, nr, nc, sy, sx, py, px = (r.int() for _ in range(7))
            k = (params.size - nf) // (nf * nr * nc)
            if nf * k * nr * nc + nf != params.size or sy != sx or py != px:
                raise DlibFormatError(f"con_4 at byte {pos}: inconsistent sizes")
            convs.append(DlibConv(params[:-nf].reshape(nf, k, nr, nc), params[-nf:], sy, py))
        elif name == "affine_":
            params = r.tensor().reshape(-1)
            half = params.size // 2
            affines.append((params[:half], params[half:]))
        elif name == "fc_2":
            n_out, n_in = r.int(), r.int()
            params = r.tensor()
            if params.size != n_in * n_out:
                raise DlibFormatError(f"fc_2: expected {n_in}×{n_out} weights (no bias), got {params.size}")
            fc = params.reshape(n_in, n_out)
    net = DlibResNet(convs, affines, fc, mean)
    check_architecture(net)
    return net


# (filters, stride) of every conv in order: stem, then 2 per residual block
EXPECTED_CONVS = [(32, 2)] + [(32, 1)] * 6 + [(64, 2)] + [(64, 1)] * 7 + [(128, 2)] + [(128, 1)] * 5 + \
    [(256, 2)] + [(256, 1)] * 5 + [(256, 2), (256, 1)]


def check_architecture(net: DlibResNet) -> None:
    got = [(c.filters.shape[0], c.stride) for c in net.convs]
    if got != EXPECTED_CONVS:
        raise DlibFormatError(f"conv layers {got} differ from dlib's 29-layer ResNet {EXPECTED_CONVS}")
    if len(net.affines) != len(net.convs):
        raise DlibFormatError(f"{len(net.affines)} affine layers for {len(net.convs)} convs")
    for c, (g, _) in zip(net.convs, net.affines, strict=True):
        if g.shape[0] != c.filters.shape[0]:
            raise DlibFormatError("affine size does not match its conv")
    if net.fc is None or net.fc.shape != (256, 128):
        raise DlibFormatError(f"fc layer shape {None if net.fc is None else net.fc.shape}, expected (256, 128)")


def folded_convs(net: DlibResNet) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each conv with its following affine folded in, as Keras ``(kh, kw, in, out)`` kernels + bias.

    dlib's affine layer is ``gamma·x + beta`` per channel directly after a conv, so
    ``W' = W·gamma`` and ``b' = b·gamma + beta`` is exact. dlib convolutions are cross-correlations,
    as Keras's are, so the kernel is only transposed, never flipped.
    """
    out = []
    for conv, (gamma, beta) in zip(net.convs, net.affines, strict=True):
        w = conv.filters * gamma[:, None, None, None]
        out.append((np.ascontiguousarray(w.transpose(2, 3, 1, 0)), conv.bias * gamma + beta))
    return out
