"""Lines that native libraries write straight to file descriptor 2, sorted before the user sees them.

Why: LiteRT writes an INFO line at the first model load of every command and service start, and
FFmpeg (inside OpenCV) a line per damaged block of a recording, in its own words
(``[h264 @ 0x55…] error while decoding MB 25 6``). Neither lets Python set its native log level or
receive its messages. So while a :func:`taking` block runs, fd 2 is a pipe that a thread reads and
forwards as it comes — what native code writes before a crash still gets out, and a progress bar's
carriage-return updates pass at the next one — except the lines a block's ``take`` claims.

Blocks may nest or overlap (a model loaded while a recording is read): they share one pipe, and
every ``take`` stays on until the last block ends, so a line written inside a block is claimed even
when the thread reads it a moment after. Python's own writes to ``sys.stderr`` pass through the
pipe too, in order. Keep blocks short in a process that starts others: a child started meanwhile
inherits the pipe as its stderr.
"""

from __future__ import annotations

import os
import re
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Take = Callable[[bytes], bool]
"""Given a line without its line end, claims it (``True``: not passed on)."""

_lock = threading.Lock()
_takes: list[Take] = []
_blocks = 0
_saved: int | None = None  # the real stderr while the pipe stands in for it
_forwarder: threading.Thread | None = None

_LINE_ENDS = re.compile(rb"(?<=\n)|(?<=\r)(?!\n)")


@contextmanager
def taking(take: Take) -> Iterator[bool]:
    """Claim the lines ``take`` returns ``True`` for, of everything written to fd 2 until the last
    block ends. Yields whether fd 2 is watched (``False``: stderr is closed or no pipe could be made,
    and everything goes out as it is)."""
    global _blocks
    with _lock:
        if _blocks == 0:
            _start()
        _blocks += 1
        _takes.append(take)
        watched = _saved is not None
    try:
        yield watched
    finally:
        with _lock:
            _blocks -= 1
            if _blocks == 0:
                _stop()


def _start() -> None:
    global _saved, _forwarder
    try:
        saved = os.dup(2)
    except OSError:  # stderr closed: nothing to keep clean
        return
    try:
        read_end, write_end = os.pipe2(os.O_CLOEXEC)
    except OSError:
        os.close(saved)
        return
    _flush_python_stderr()
    _forwarder = threading.Thread(target=_forward, args=(read_end, saved), name="stderr", daemon=True)
    _forwarder.start()
    os.dup2(write_end, 2)
    os.close(write_end)
    _saved = saved


def _stop() -> None:
    global _saved, _forwarder
    if _saved is not None and _forwarder is not None:
        _flush_python_stderr()
        os.dup2(_saved, 2)  # the pipe's last write end closes: the forwarder reads to the end
        _forwarder.join(timeout=5)
    _saved, _forwarder = None, None
    _takes.clear()


def _flush_python_stderr() -> None:
    try:
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass


def _forward(read_end: int, out: int) -> None:
    """Pass each line from the pipe to ``out`` as its end comes, unless claimed; a last piece
    without a line end at the pipe's end. Closes both descriptors."""
    pending = b""
    try:
        while chunk := os.read(read_end, 65536):
            pending += chunk
            cut = max(pending.rfind(b"\n"), pending.rfind(b"\r")) + 1
            if cut:
                _write_all(out, _unclaimed(pending[:cut]))
                pending = pending[cut:]
        if pending:
            _write_all(out, _unclaimed(pending))
    finally:
        os.close(read_end)
        os.close(out)


def _unclaimed(text: bytes) -> bytes:
    takes = list(_takes)
    kept = [piece for piece in _LINE_ENDS.split(text)
            if piece and not any(take(piece.rstrip(b"\r\n")) for take in takes)]
    return b"".join(kept)


def _write_all(fd: int, data: bytes) -> None:
    """Write every byte (a pipe or a full journal may take part of a write); give up quietly when
    the descriptor refuses (nothing else could be told through it anyway)."""
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view):]
    except OSError:
        pass
