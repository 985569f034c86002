"""Load and run a ``.tflite`` model through whichever LiteRT interpreter is installed.

Why one module: every model on the device (detector, landmarks, embedder) goes through here, so
quantization of inputs and dequantization of outputs is done once, from each tensor's own
scale/zero-point, and the backend choice (ai-edge-litert → tflite-runtime → tensorflow.lite) is
made in one place.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from edge.errors import ModelFileError, RuntimeBackendError
from edge.native_stderr import taking

log = logging.getLogger(__name__)

_BACKENDS = ("ai_edge_litert.interpreter", "tflite_runtime.interpreter", "tensorflow.lite")

XNNPACK_NOTICE = b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
"""The line LiteRT's native code writes to the process's stderr once, when the first interpreter
allocates its tensors (tflite-runtime writes the same)."""

_first_load_lock = threading.Lock()
_first_load_started = False  # only the first model load of a process is watched
_notice_watched = False
_notice_seen = False


def xnnpack_delegate_created() -> bool | None:
    """Whether LiteRT said it created its XNNPACK delegate while this process's first model loaded:
    ``None`` before that, or when stderr could not be watched (see :func:`delegate_notice_held_back`)."""
    return True if _notice_seen else (False if _notice_watched else None)


def interpreter_class() -> tuple[type, str]:
    """Return the first importable ``Interpreter`` class and the module it came from.

    ``SIAMESE_EDGE_TFLITE_BACKEND`` forces one module (useful to test the fallback on a workstation).
    """
    forced = os.environ.get("SIAMESE_EDGE_TFLITE_BACKEND")
    candidates = (forced,) if forced else _BACKENDS
    errors = []
    for name in candidates:
        try:
            module = __import__(name, fromlist=["Interpreter"])
            return module.Interpreter, name
        except (ImportError, AttributeError) as exc:  # next backend (TensorFlow 2.21 has no tf.lite.Interpreter)
            errors.append(f"{name}: {exc}")
            if not forced:
                log.debug("TFLite backend %s unavailable: %s", name, exc)
    raise RuntimeBackendError(
        "no TFLite interpreter found (tried " + "; ".join(errors) + "). "
        "Install one: pip install 'ai-edge-litert==2.3.*' (or tflite-runtime==2.14 with numpy<2)."
    )


def cpu_info_problem(path: str = "/proc/cpuinfo") -> str | None:
    """Why LiteRT's CPU detection would fail here, or ``None``. Without it, LiteRT creates no XNNPACK
    delegate and runs every model on its reference kernels, several times slower — silently. The
    usual cause is a systemd unit with ``ProcSubset=pid``, which hides ``/proc/cpuinfo``."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read(1 << 20)
    except OSError as exc:
        return f"{path} cannot be read ({exc.strerror or exc})"
    if "processor" not in text:
        return f"{path} lists no processor"
    return None


def warn_if_unaccelerated() -> bool:
    """Log one warning naming the cause when models would run without XNNPACK; True if they would."""
    problem = cpu_info_problem()
    if problem:
        log.warning("%s: LiteRT cannot detect the CPU, creates no XNNPACK delegate and runs every model on "
                    "its reference kernels (several times slower). Under systemd, remove ProcSubset=pid from "
                    "the unit.", problem)
    return problem is not None


@contextmanager
def delegate_notice_held_back() -> Iterator[None]:
    """Pass on everything written to stderr (file descriptor 2) meanwhile except LiteRT's
    :data:`XNNPACK_NOTICE` (see :mod:`edge.native_stderr`).

    Why: that INFO line opened the output of every command and every service start, and neither
    LiteRT nor tflite-runtime lets Python set its native log level. Only the first model load of a
    process is watched: the line comes with the first interpreter's tensors or not at all, and no
    later load — perhaps while an event hook's process starts and would inherit the pipe — needs
    fd 2 swapped.
    """
    global _first_load_started, _notice_watched
    with _first_load_lock:
        first, _first_load_started = not _first_load_started, True
    if not first:
        yield
        return
    with taking(_take_notice) as watched:
        _notice_watched = _notice_watched or watched
        yield


def _take_notice(line: bytes) -> bool:
    global _notice_seen
    if line == XNNPACK_NOTICE:
        _notice_seen = True
        return True
    return False


class TFLiteModel:
    """A loaded ``.tflite`` model with float-in/float-out helpers around quantized tensors.

    Loaded once in the constructor (never per frame). ``run`` accepts float or integer arrays: float
    inputs are quantized with the input tensor's own parameters when the tensor is int8/uint8;
    integer inputs of the right dtype are passed through untouched (raw uint8 pixels).
    """

    def __init__(self, path: str | os.PathLike[str], num_threads: int = 1, content: bytes | None = None) -> None:
        """``content``: the model's bytes when they differ from the file (a re-shaped copy, see
        :mod:`edge.vision.model_reshape`); ``path`` then only names it in messages."""
        self.path = Path(path)
        if content is None and not self.path.is_file():
            raise ModelFileError(f"model file not found: {self.path}")
        cls, self.backend = interpreter_class()
        try:
            source = {"model_content": content} if content is not None else {"model_path": str(self.path)}
            with delegate_notice_held_back():
                self._interp = cls(**source, num_threads=int(num_threads))
                self._interp.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelFileError(f"{self.path} is not a loadable TFLite model: {exc}") from exc
        self.inputs: list[dict[str, Any]] = self._interp.get_input_details()
        self.outputs: list[dict[str, Any]] = self._interp.get_output_details()

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of the first input, e.g. ``(1, 128, 128, 3)``."""
        return tuple(int(v) for v in self.inputs[0]["shape"])

    @property
    def input_dtype(self) -> np.dtype:
        return np.dtype(self.inputs[0]["dtype"])

    def resize_batch(self, batch: int) -> None:
        """Resize the first input's batch dimension (used by evaluation to embed many crops per call)."""
        shape = list(self.input_shape)
        if shape[0] == batch:
            return
        shape[0] = batch
        self._interp.resize_tensor_input(self.inputs[0]["index"], shape)
        self._interp.allocate_tensors()
        self.inputs = self._interp.get_input_details()
        self.outputs = self._interp.get_output_details()

    def run(self, *arrays: np.ndarray) -> list[np.ndarray]:
        """Run the model; return every output as float32, dequantized where needed."""
        for detail, array in zip(self.inputs, arrays, strict=True):
            self._interp.set_tensor(detail["index"], quantize(array, detail))
        self._interp.invoke()
        return [dequantize(self._interp.get_tensor(d["index"]), d) for d in self.outputs]


def quantize(array: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    """Convert ``array`` to the tensor's dtype, using its scale/zero-point for float → int8/uint8."""
    dtype = np.dtype(detail["dtype"])
    if array.dtype == dtype:
        return np.ascontiguousarray(array)
    if dtype in (np.int8, np.uint8) and np.issubdtype(array.dtype, np.floating):
        scale, zero = detail["quantization"]
        if scale:
            info = np.iinfo(dtype)
            q = np.round(array / scale + zero)
            return np.clip(q, info.min, info.max).astype(dtype)
    return array.astype(dtype)


def dequantize(array: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    """Return ``array`` as float32, applying the tensor's scale/zero-point when it is quantized."""
    if np.dtype(detail["dtype"]) in (np.int8, np.uint8, np.int16):
        scale, zero = detail["quantization"]
        if scale:
            return (array.astype(np.float32) - zero) * np.float32(scale)
    return array.astype(np.float32, copy=False)


def trim_heap() -> None:
    """Hand freed heap memory back to the OS (glibc ``malloc_trim``); a no-op elsewhere.

    Why: interpreters built for a short job (enrolling new photos in the daemon) free tens of MB
    when dropped, but glibc keeps freed pages in its arenas, so without this the daemon's resident size
    would stay that much higher for good — on a Pi with 1 GB, that matters.
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        pass
