"""Replay a folder of images (name order, at ``fps``) or a video file (as it was filmed).

The embedded default for ``make demo``, tests and benchmarks: deterministic and needs no hardware.
A video file also plays through here when it is given as the ``opencv`` camera's device: at its own
frame rate, ending at its end (or looping), instead of racing through and "reconnecting" forever.
A frame that cannot be read is skipped with a warning: one bad file in a recording never stops or
restarts the replay.

With ``realtime: false`` a replay is read as fast as it is analysed, so the wall clock no longer
says when a frame was filmed: :meth:`ReplayCamera.frame_time` gives the video's own clock instead,
and tracks, cooldowns and the motion gate run on it — a visit is one visit however fast or slow
the machine reads the recording.

A raw stream (``rpicam-vid -o clip.h264``, the Pi's own way to record) carries no timestamps and no
index: its frames take their times from the file ``rpicam-vid --save-pts`` wrote beside it
(:mod:`edge.camera.timecodes`) or, without one, are counted at the replay's rate; a looping one is
opened again at its end.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import cv2
import numpy as np

from edge.camera import CameraError
from edge.camera.timecodes import TimecodeError, read_timecodes, timecodes_beside
from edge.errors import ImageError
from edge.printable import printable
from edge.vision.imageio import IMAGE_SUFFIXES, read_image

log = logging.getLogger(__name__)

# What ``siamese-edge identify`` reads as a recording rather than a photo (by name: a video's
# first bytes say little that OpenCV's image reader could use, and a wrong guess would decode it
# twice). The containers and raw streams FFmpeg builds of OpenCV open on a Pi.
# A raw stream (rpicam-vid's --codec h264 or mjpeg) has no container to keep frame times in: FFmpeg
# reads its frames with no timestamp (H.264) or with ones it makes up at 25 a second (MJPEG), so
# they are counted at the replay's rate instead.
RAW_STREAM_SUFFIXES = frozenset({".h264", ".264", ".h265", ".265", ".hevc", ".mjpeg", ".mjpg"})
END_AFTER_FAILURES = 16
"""Failed grabs in a row that end a recording (one damaged place costs one or two)."""
VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".ts", *RAW_STREAM_SUFFIXES})


def timecodes_misplaced(recording: Path) -> str | None:
    """What ``recording`` is when a timestamps file cannot go with it — only a raw stream has no times
    of its own, and two clocks for one frame would disagree — or ``None`` when one can."""
    if recording.is_dir():
        return "a folder of images"
    if recording.suffix.lower() not in RAW_STREAM_SUFFIXES:
        return "a recording that keeps its own timestamps"
    return None


def timecodes_for(recording: Path, given: str | Path | None) -> Path | None:
    """The timestamps file a recording's frames take their times from: ``given`` (``camera.timestamps``,
    ``identify --timestamps``), or for a raw stream the ``.pts`` file beside it (``rpicam-vid -o
    door.h264 --save-pts door.pts``) when there is one."""
    if given is not None:
        return Path(given)
    return timecodes_beside(recording) if recording.suffix.lower() in RAW_STREAM_SUFFIXES else None


class ReplayCamera:
    def __init__(self, path: str | Path, fps: float | None = 10.0, loop: bool = False, realtime: bool = True,
                 name: str | None = None, fallback_fps: float = 10.0, timecodes: str | Path | None = None) -> None:
        """``fps=None``: a video plays at the rate its file declares (``fallback_fps`` if none).
        ``timecodes``: a raw stream's timestamps file (``rpicam-vid --save-pts``), read at :meth:`open`;
        it gives :meth:`position`, and with it the replay's pace and clock."""
        self.path = Path(path)
        self.name = name or f"replay:{self.path.name}"
        self.fps = fps
        self.fallback_fps = fallback_fps
        self.period = 1.0 / (fps or fallback_fps)
        self.loop = loop
        self.realtime = realtime
        self._frames: list[Path] = []
        self._video: cv2.VideoCapture | None = None
        self._bad: set[Path] = set()
        self._position: float | None = None  # where the frame last read lies in the recording, seconds
        self._passes_s = 0.0  # the recording time of the passes before this one (looped or reopened)
        self._anchor = 0.0  # realtime: the monotonic moment the replay's time 0 is due
        self._clock_start: float | None = None
        self._raw = self.path.suffix.lower() in RAW_STREAM_SUFFIXES  # its timestamps, if any, are made up
        self._stamped = 0  # frames after a video's first whose own timestamp moved on …
        self._counted = 0  # … and those whose did not (counted one period on)
        self.timecodes = Path(timecodes) if timecodes is not None else None
        self.frame_times: np.ndarray | None = None  # from the timestamps file: seconds from the first frame
        self._in_pass = 0  # frames grabbed since the replay (re)started: a folder's next image, a video's next time
        self.past_timecodes = 0  # frames grabbed beyond the timestamps file's last (counted instead)

    def open(self) -> None:
        if self.path.is_dir():
            self._refuse_misplaced_timecodes()
            self._frames = sorted(p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not self._frames:
                raise CameraError(f"replay folder {self.path} has no images")
        elif self.path.is_file():
            self._refuse_misplaced_timecodes()
            if self.timecodes is not None:
                self.frame_times = read_timecodes(self.timecodes)
            self._video = self._capture()
            if not self._video.isOpened():
                raise CameraError(f"replay file {self.path} cannot be opened as a video")
            if self.fps is None:
                own = self._video.get(cv2.CAP_PROP_FPS)
                self.period = 1.0 / (own if 0.1 <= own <= 240 else self.fallback_fps)
        else:
            raise CameraError(f"replay source {self.path} does not exist")
        self._end_pass()
        self._in_pass = 0
        now = time.monotonic()
        self._anchor = now - self._passes_s  # the next frame is due now
        if self._clock_start is None:
            self._clock_start = now

    def frame_size(self) -> tuple[int, int] | None:
        """A video's frame width and height as its header declares them, known before any frame is
        decoded (so a crafted header can be refused first); ``None`` for a folder or when unknown."""
        if self._video is None:
            return None
        w, h = (int(self._video.get(p)) for p in (cv2.CAP_PROP_FRAME_WIDTH, cv2.CAP_PROP_FRAME_HEIGHT))
        return (w, h) if w > 0 and h > 0 else None

    def frame_count(self) -> int | None:
        """How many frames a video's header declares (for a progress bar; it may be wrong or
        missing), or a folder's image count."""
        if self._video is None:
            return len(self._frames) or None
        n = int(self._video.get(cv2.CAP_PROP_FRAME_COUNT))
        return n if n > 0 else None

    def frame_time(self) -> float | None:
        """When the frame last read was filmed, on the :func:`time.monotonic` scale: the first frame
        at the moment the replay opened, each next one at its :meth:`position` (a looping or reopened
        replay's passes one after another, a period apart). So a recording's tracks and cooldowns run
        on the time it was filmed in — its own timestamps, a timestamps file's, or a count at
        ``fps`` — however fast it is read. ``None`` when the replay is paced in real time (then the
        moment a frame arrives is its time, as with a camera)."""
        if self.realtime or self._clock_start is None or self._position is None:
            return None
        return self._clock_start + self._passes_s + self._position

    def position(self) -> float | None:
        """Where the frame last read lies in the recording, in seconds from its start: the video's
        own timestamp (a raw stream's frames, which carry none, counted at :attr:`period`), or a
        folder frame's place in name order over ``fps`` (an unreadable frame keeps its place).
        Starts again at 0 each time a looping replay does."""
        return self._position

    def _pace(self) -> None:
        """Realtime: hold the frame just grabbed until its place in the recording comes round, so
        the replay plays as it was filmed (a gap in a timestamps file is a gap); when behind, catch
        up at most one period, dropping the rest of the debt."""
        if not self.realtime or self._position is None:
            return
        due = self._anchor + self._passes_s + self._position
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        elif now - due > self.period:
            self._anchor += now - due - self.period

    def _end_pass(self) -> None:
        """The pass just played stays on the replay's clock: the next starts one period after its
        last frame."""
        if self._position is not None:
            self._passes_s += self._position + self.period
        self._position = None

    def read(self) -> np.ndarray | None:
        """The next frame (a folder's unreadable images skipped with a warning), or ``None`` at the end."""
        for _ in range(len(self._frames) + 1):
            if not self.grab():
                return None
            frame = self.retrieve()
            if frame is not None:
                return frame
            if self._video is not None:  # a video frame that does not decode ends it, as a failed read did
                return None
        raise CameraError(f"replay folder {self.path}: no frame can be read")

    def grab(self) -> bool:
        """Move on to the next frame without decoding it; ``False`` at the end. :meth:`position`
        then says where it lies, and :meth:`retrieve` decodes it.

        Why apart from :meth:`read`: ``identify`` looks at one frame in every few of a recording,
        and a frame only grabbed skips the colour conversion and copy into a picture.
        """
        if self._video is not None:
            ok = self._grab_past_damage()
            if not ok and self.loop:
                ok = self._rewind()
            if ok:
                self._position = self._video_time()
                self._in_pass += 1
                self._pace()
            return ok
        if self._in_pass >= len(self._frames):
            if not self.loop or not self._frames:
                return False
            self._end_pass()
            self._in_pass = 0
        self._position = self._in_pass * self.period
        self._in_pass += 1
        self._pace()
        return True

    def _grab_past_damage(self) -> bool:
        """The next frame grabbed, past the places a damaged recording's decoder gives up on: there
        OpenCV's grab fails once and the next one goes on, so a single failure used to end the
        recording at its first damaged frame. :data:`END_AFTER_FAILURES` failures in a row are its end
        (each returns at once there)."""
        for _ in range(END_AFTER_FAILURES):
            if self._video.grab():
                return True
        return False

    def _rewind(self) -> bool:
        """Back to a looping video's first frame, grabbed: by seeking, or — a raw stream has no index
        to seek in — by opening the file again. ``False`` when it cannot be read any more."""
        self._end_pass()  # its position starts again at 0
        self._in_pass = 0
        self._video.set(cv2.CAP_PROP_POS_FRAMES, 0)
        if self._video.grab():
            return True
        self._video.release()
        self._video = self._capture()
        return self._video.isOpened() and self._video.grab()

    def _capture(self) -> cv2.VideoCapture:
        """The video file opened by its absolute name: FFmpeg reads "concat:…", "subfile:…" or
        "http:…" as a protocol, so a file named like one, given relative, would open something else."""
        return cv2.VideoCapture(str(self.path.absolute()))

    def _refuse_misplaced_timecodes(self) -> None:
        misplaced = timecodes_misplaced(self.path) if self.timecodes is not None else None
        if misplaced:
            raise TimecodeError(f"timestamps {printable(str(self.timecodes))}: a timestamps file is for a raw "
                                f"stream ({', '.join(sorted(RAW_STREAM_SUFFIXES))}); {printable(str(self.path))} "
                                f"is {misplaced}")

    def _video_time(self) -> float:
        """Where the frame just grabbed lies: its time in the timestamps file, else its own
        timestamp, or one period after the frame before in a raw stream (:data:`RAW_STREAM_SUFFIXES`)
        or where a timestamp does not move on (a raw H.264 stream by another name: OpenCV says 0 for
        every frame)."""
        if self.frame_times is not None:
            if self._in_pass < len(self.frame_times):
                return float(self.frame_times[self._in_pass])
            self.past_timecodes += 1
        stamp = 0.0 if self._raw else self._video.get(cv2.CAP_PROP_POS_MSEC) / 1000
        before = self._position
        if before is None:  # the first frame
            return stamp if stamp >= 0 else 0.0
        if stamp > before:
            self._stamped += 1
            return stamp
        self._counted += 1
        return before + self.period

    def carries_timestamps(self) -> bool | None:
        """Whether the video's frames carry their own times (a container: .mp4, .mkv, .avi …) or take
        them from a timestamps file, rather than being counted at :attr:`period` (a raw stream);
        ``None`` for a folder, or before a second frame of a recording not known by its name was read."""
        if self.frame_times is not None:
            return True
        if self._video is not None and self._raw:
            return False
        if self._video is None or not (self._stamped or self._counted):
            return None
        return self._stamped >= self._counted

    def retrieve(self) -> np.ndarray | None:
        """The frame last grabbed, decoded; ``None`` when it cannot be (a folder's unreadable image is
        named in one warning)."""
        if self._video is not None:
            ok, frame = self._video.retrieve()
            return frame if ok else None
        path = self._frames[self._in_pass - 1]
        try:
            return read_image(path)
        except ImageError as exc:
            if path not in self._bad:
                self._bad.add(path)
                log.warning("replay frame skipped: %s", printable(exc))
            return None

    def close(self) -> None:
        if self._video is not None:
            self._video.release()
            self._video = None
