"""``siamese-edge identify clip.mp4``: who is in a recording, and when.

Why a summary and not a line per frame: a doorbell clip of a minute holds a hundred frames worth
looking at, and the question is "was it Bob, and when" — so the text output merges the frames a
person was named in into visits ("Bob at 2.5 to 7.0 s"), bridging one missed look (a blink, a turned
head). ``--json`` still gives every face of every frame looked at, with ``video_s``, for scripts.

Each frame looked at is decided on its own, exactly as a photo is (the same recognizer, detector
and open-set rule); the daemon's votes, tracks and cooldowns are for a live camera and stay there
(``siamese-edge run`` with a replay config gives those). This module reads and finds; what is
printed, and the ``--json`` contract, live in :mod:`edge.identify` with the photos'.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from edge.camera import CameraError
from edge.camera.replay import ReplayCamera
from edge.camera.timecodes import TimecodeError
from edge.native_stderr import taking
from edge.printable import printable
from edge.vision.pipeline import Identified, Recognizer

BRIDGED_LOOKS = 1  # missed looks a visit survives (a blink or a turned head is not a new visit)


OnVisit = Callable[["Visit"], None]
OnFrame = Callable[[float, list[Identified]], None]


@dataclass
class Visit:
    """One stretch of a recording in which a person (``who``; "" for unknown faces) was seen."""

    who: str
    start: float
    end: float
    best: float  # the name's best score; for unknown faces the detector's best confidence
    closest: str | None  # for unknown faces: whom the gallery found closest at the best look
    at: float = 0.0  # when the best look was
    frame: np.ndarray | None = field(default=None, repr=False)  # kept only for --out
    results: list[Identified] = field(default_factory=list, repr=False)

    def when(self) -> str:
        """"at 2.5 s", or "at 1.0 to 3.5 s"."""
        return f"at {self.start:.1f} s" if self.end == self.start else f"at {self.start:.1f} to {self.end:.1f} s"


@dataclass(frozen=True)
class Recording:
    """What looking through one recording found: its visits in order of start, how many frames
    were looked at, and where the last frame read lies."""

    visits: list[Visit]
    looked: int
    last_at: float
    counted_at: float | None = None  # a raw stream's frames carry no times: they were counted at this rate
    grabbed: int = 0  # frames read, looked at or not
    timed_by: Path | None = None  # the timestamps file that gave a raw stream's frames their times …
    listed: int = 0  # … how many frames it lists …
    past_list: int = 0  # … and how many frames came after its last (counted at the replay's rate)
    decoder_errors: list[str] = field(default_factory=list)  # FFmpeg's distinct messages: the file is damaged


def look_through(recognizer: Recognizer, name: str, every: float, max_pixels: int,
                 on_frame: OnFrame | None = None, on_visit: OnVisit | None = None,
                 fps: float | None = None, timecodes: Path | None = None) -> Recording | None:
    """Look at one frame every ``every`` seconds of the recording ``name``; call ``on_frame`` with
    each frame's time and faces, and ``on_visit`` with each visit as it ends (its best frame still
    attached). A raw stream's frames take their times from ``timecodes`` (``rpicam-vid --save-pts``);
    frames without timestamps are counted at ``fps`` (default: the rate the recording declares).
    ``None`` (the reason printed) when the recording cannot be read."""
    path = Path(name)
    if not path.is_file():
        reason = "no such file" if not path.exists() else "not a regular file (give a recorded video)"
        print(f"error: {printable(name)}: {reason}", file=sys.stderr)
        return None
    camera = ReplayCamera(path, fps=fps, realtime=False, timecodes=timecodes)
    decoder = DecoderErrors()
    progress = sys.stderr is not None and sys.stderr.isatty()  # asked before fd 2 becomes a pipe
    with taking(decoder.take):
        found = _open_and_look(camera, recognizer, name, every, max_pixels, on_frame, on_visit, progress)
    if found is None:
        if decoder.messages:
            print(f"note: {printable(name)}: the decoder says: {decoder.messages[0]}", file=sys.stderr)
        return None
    return dataclasses.replace(found, decoder_errors=decoder.messages)


def _open_and_look(camera: ReplayCamera, recognizer: Recognizer, name: str, every: float, max_pixels: int,
                   on_frame: OnFrame | None, on_visit: OnVisit | None, progress: bool) -> Recording | None:
    try:
        camera.open()
    except TimecodeError as exc:
        print(f"error: {printable(name)}: {printable(exc)}", file=sys.stderr)
        return None
    except CameraError:
        print(f"error: {printable(name)}: cannot be opened as a video", file=sys.stderr)
        return None
    try:
        return _look(camera, recognizer, name, every, max_pixels, on_frame, on_visit, progress)
    finally:
        camera.close()


class DecoderErrors:
    """FFmpeg's own lines about the recording (``[h264 @ 0x55…] error while decoding MB 25 6, …``),
    claimed from stderr (see :mod:`edge.native_stderr`) and kept, each distinct message once, for one
    note: a damaged recording is still looked through — FFmpeg conceals what it cannot decode —
    but the user should know why faces there may be missed. (OpenCV sets FFmpeg to errors only.)"""

    LINE = re.compile(rb"\[[^\]@]+ @ (?:0x)?[0-9a-fA-F]+\] ?(.*)")
    COLOUR = re.compile(rb"\x1b\[[0-9;]*m")  # FFmpeg colours its lines when its first one went to a terminal

    def __init__(self) -> None:
        self.messages: list[str] = []
        self._seen: set[bytes] = set()

    def take(self, line: bytes) -> bool:
        match = self.LINE.fullmatch(self.COLOUR.sub(b"", line))
        if match is None:
            return False
        message = match.group(1).strip()
        if message and message not in self._seen:  # frame threads repeat each other's errors
            self._seen.add(message)
            self.messages.append(printable(message.decode("utf-8", "replace")))
        return True


class Looks:
    """The frames of a recording a look falls on — one every ``every`` seconds of its own clock —
    as ``(time, frame)``; the frames between are only grabbed, never decoded into pictures. After
    (or during) the iteration, ``grabbed`` says how many frames were read and ``last_at`` where the
    last of them lies."""

    def __init__(self, camera: ReplayCamera, every: float) -> None:
        self.camera = camera
        self.every = every
        self.grabbed = 0
        self.last_at = 0.0

    def __iter__(self) -> Iterator[tuple[float, np.ndarray]]:
        next_look = 0.0
        while self.camera.grab():
            t = self.last_at = self.camera.position() or 0.0  # a grabbed frame always has a place
            self.grabbed += 1
            if t + 1e-6 < next_look:
                continue
            frame = self.camera.retrieve()
            if frame is None:
                return
            while next_look <= t + 1e-6:
                next_look += self.every
            yield t, frame


def _look(camera: ReplayCamera, recognizer: Recognizer, name: str, every: float, max_pixels: int,
          on_frame: OnFrame | None, on_visit: OnVisit | None, progress: bool) -> Recording | None:
    size = camera.frame_size()
    if size and size[0] * size[1] > max_pixels:
        print(f"error: {printable(name)}: frames of {size[0]}×{size[1]} pixels, more than --max-pixels "
              f"{max_pixels}; nothing was decoded", file=sys.stderr)
        return None
    bridge = every * (BRIDGED_LOOKS + 1) + 1e-6
    open_visits: dict[str, Visit] = {}
    done: list[Visit] = []
    looked = 0
    looks = Looks(camera, every)
    bar = tqdm(total=camera.frame_count(), desc=Path(name).name, unit="frame", leave=False,
               disable=not progress)
    with bar:
        for t, frame in looks:
            bar.update(looks.grabbed - bar.n)
            if frame.shape[0] * frame.shape[1] > max_pixels:
                print(f"error: {printable(name)}: a frame of {frame.shape[1]}×{frame.shape[0]} pixels at {t:.1f} s, "
                      f"more than --max-pixels {max_pixels}; the rest of the recording was not read", file=sys.stderr)
                break
            looked += 1
            results = recognizer.identify(frame)
            if on_frame is not None:
                on_frame(t, results)
            for who in [w for w, v in open_visits.items() if t - v.end > bridge]:
                done.append(_close(open_visits.pop(who), on_visit))
            _note(open_visits, results, t, frame, keep_frame=on_visit is not None)
    done += [_close(v, on_visit) for v in open_visits.values()]
    if not looks.grabbed:
        print(f"error: {printable(name)}: no frame of it could be read", file=sys.stderr)
        return None
    done.sort(key=lambda v: (v.start, v.who == "", v.who))
    counted_at = 1 / camera.period if camera.carries_timestamps() is False or camera.past_timecodes else None
    listed = len(camera.frame_times) if camera.frame_times is not None else 0
    return Recording(done, looked, looks.last_at, counted_at, looks.grabbed, camera.timecodes if listed else None,
                     listed, camera.past_timecodes)


def _note(open_visits: dict[str, Visit], results: list[Identified], t: float, frame: np.ndarray,
          keep_frame: bool) -> None:
    """Extend or start the visit of everyone in this frame (unknown faces share one visit)."""
    for r in results:
        who = r.match.name or ""
        quality = r.match.score if who else r.face.score
        visit = open_visits.get(who)
        if visit is None:
            visit = open_visits[who] = Visit(who, t, t, -np.inf, None)
        visit.end = t
        if quality > visit.best:
            visit.best, visit.at, visit.closest = float(quality), t, r.match.best
            if keep_frame:
                visit.frame, visit.results = frame, results


def _close(visit: Visit, on_visit: OnVisit | None) -> Visit:
    if on_visit is not None:
        on_visit(visit)
    visit.frame, visit.results = None, []
    return visit
