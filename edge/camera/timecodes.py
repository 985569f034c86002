"""Frame times of a raw video stream, from the file ``rpicam-vid --save-pts FILE`` writes beside it.

Why: a raw stream (``rpicam-vid -o door.h264``) keeps no timestamps, so its frames are otherwise
counted at a nominal rate — and the Pi's encoder drops frames when the card or the CPU falls
behind, so a count drifts from the clock by as many frames as were lost. The timestamps file has
the camera's own time for every frame written: "timecode format v2" (mkvmerge's), a header line
and then one time in milliseconds per frame, the first 0.

Names: ``door.pts`` beside ``door.h264`` is picked up by itself (:func:`timecodes_beside`);
another name is given (``identify --timestamps``, ``camera.timestamps``).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from edge.camera import CameraError
from edge.printable import printable
from edge.private_files import read_regular

HEADER = "# timecode format v2"
SUFFIX = ".pts"
MAX_BYTES = 64 * 1024 * 1024
"""Largest timestamps file read: a day at 30 frames a second takes about 30 MB as rpicam-vid writes it."""


class TimecodeError(CameraError):
    """A recording's timestamps file cannot be used: unreadable, not timecode format v2, times going
    back, or given for a recording that keeps its own. The replay cannot open without it (the
    daemon retries, as for a missing recording; ``identify`` names it and goes on to the next)."""


def timecodes_beside(recording: Path) -> Path | None:
    """``door.pts`` beside ``door.h264``, when it is there; ``None`` otherwise."""
    candidate = recording.with_suffix(SUFFIX)
    return candidate if candidate != recording and candidate.is_file() else None


def read_timecodes(path: Path) -> np.ndarray:
    """Every frame's time in seconds from the first frame (float64, never decreasing).

    Raises :class:`TimecodeError` naming the file and, for a bad line, its number and text.
    """
    name = printable(str(path))
    try:
        data = read_regular(Path(path).resolve(), MAX_BYTES + 1, MAX_BYTES)
    except OSError as exc:
        reason = exc.strerror or "not a regular file of at most 64 MiB"
        raise TimecodeError(f"timestamps {name}: cannot be read ({printable(reason)})") from None
    try:
        lines = data.decode("ascii").splitlines()
    except UnicodeDecodeError:
        raise TimecodeError(f"timestamps {name}: not a text file (rpicam-vid --save-pts writes one)") from None
    if not lines or lines[0].strip() != HEADER:
        raise TimecodeError(f"timestamps {name}: its first line is not {HEADER!r} (the format rpicam-vid "
                            "--save-pts and mkvmerge write)")
    times: list[float] = []
    for number, line in enumerate(lines[1:], start=2):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        try:
            ms = float(text)
        except ValueError:
            ms = math.nan
        if not math.isfinite(ms) or ms < 0:
            raise TimecodeError(f"timestamps {name}: line {number}: {printable(text[:40])!r} is not a time "
                                "in milliseconds")
        if times and ms < times[-1]:
            raise TimecodeError(f"timestamps {name}: line {number}: {text} ms comes before the frame above it "
                                f"({times[-1]:g} ms)")
        times.append(ms)
    if not times:
        raise TimecodeError(f"timestamps {name}: lists no frame")
    out = np.array(times, np.float64) / 1000
    return out - out[0]
