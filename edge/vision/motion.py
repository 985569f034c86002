"""A motion gate in front of the face detector: an empty, unchanging scene costs almost nothing.

Why: at a door the scene is empty most of the day, yet detection would run on every frame — on a
Pi that is a large share of a core all day (heat, power, no room for a second camera). Frigate
puts the same kind of gate in front of its detector.

How: every frame is shrunk to a small grey thumbnail (the green channel — most of luma — of every
fourth pixel of every fourth row, averaged by one ``INTER_AREA`` resize, which also flattens sensor
noise; it reads a quarter of the frame's memory, many times cheaper than resizing the whole colour
frame) and compared with the thumbnail of the last frame that was
*analysed*. Detection runs when enough of the picture changed (``min_area`` of the thumbnail's
pixels by more than ``pixel_threshold`` grey levels), when anybody is being tracked, when no frame
has been analysed yet, and at least every ``max_interval_s`` after a change — so a person who walks
in is seen on the first frame that shows them, and one whom detection missed while they moved (a
blurred or turned face) is found within ``max_interval_s`` once they stand still. Comparing with the
last analysed frame (not the previous one) means a slow change — dusk, someone edging in — adds up
until it opens the gate.

A scene that stays still after ``SETTLE_CHECKS`` analysed frames in a row found nobody is *settled*:
detection then runs only every ``idle_interval_s`` until the gate sees change again. Re-detecting an
unchanged, empty picture every couple of seconds all day finds nobody new (the detector sees the same
pixels again) but was a large part of what the gate still cost; the slow check stays as a safety net for a
change the gate cannot see (a person too small or too close in colour to the background to change
``min_area`` of the thumbnail). Frigate goes further and never detects without motion.

A noisy camera (a dim hallway) must not hold the gate open: about once a second the threshold is
re-derived from the picture's own noise — :data:`NOISE_MULTIPLE` times the median difference from the
reference, which stays the noise's as long as less than half of the picture changed — and used when
it is above ``pixel_threshold``, up to :data:`NOISE_CAP` times it (a change of the whole picture, such
as the lights going on, then still opens the gate).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

THUMBNAIL = (80, 60)
"""Width × height of the grey thumbnail: a 640×480 frame's 8×8 blocks (a face 40 px wide covers
25 of its pixels)."""


@dataclass(frozen=True)
class MotionSettings:
    """How much change opens the gate, and the longest time between two analysed frames."""

    min_area: float = 0.002  # fraction of the thumbnail's pixels that must change
    pixel_threshold: int = 12  # grey levels a thumbnail pixel must change by to count
    max_interval_s: float = 2.0  # longest time between two analysed frames after a change …
    idle_interval_s: float = 30.0  # … and once the scene has settled, still and empty


SETTLE_CHECKS = 3
"""Analysed frames in a row that must find nobody, in a picture the gate saw no change in since the
last of them moved, before the scene counts as settled (with ``max_interval_s`` 2: about 4 s)."""


NOISE_MULTIPLE = 6.0
"""× the median absolute difference: for sensor noise, four standard deviations of the difference
between two thumbnails (a pixel opens the gate by noise alone about once in 16,000)."""

NOISE_CAP = 3
"""The noise-derived threshold grows to at most this many times ``pixel_threshold``."""

NOISE_EVERY = 10
"""Frames between two noise estimates (noise changes with the light, slowly)."""


class MotionGate:
    """Decides per frame whether detection must run (:meth:`should_analyse`)."""

    def __init__(self, settings: MotionSettings) -> None:
        self.settings = settings
        self._reference: np.ndarray | None = None
        self._analysed_at = float("-inf")
        self._empty_checks = 0  # analysed frames in a row with nobody found since the last change
        self._compared = 0
        self.threshold = settings.pixel_threshold  # grey levels, raised above the camera's noise
        self.skipped = 0  # frames the gate let pass without detection

    @property
    def settled(self) -> bool:
        return self._empty_checks >= SETTLE_CHECKS

    @staticmethod
    def thumbnail(frame_bgr: np.ndarray) -> np.ndarray:
        grey = frame_bgr[::4, ::4, 1] if frame_bgr.ndim == 3 else frame_bgr[::4, ::4]
        return cv2.resize(grey, THUMBNAIL, interpolation=cv2.INTER_AREA)

    def changed_fraction(self, thumb: np.ndarray) -> float:
        """Fraction of thumbnail pixels that differ from the last analysed frame's by more than
        :attr:`threshold` (1.0 when there is nothing to compare with)."""
        if self._reference is None or self._reference.shape != thumb.shape:
            return 1.0
        # OpenCV end to end (absdiff, threshold, count): on a frame that arrives every 100 ms the
        # code runs cold, and each numpy call (a comparison array, then a count) costs more there
        # than in a tight loop; THRESH_BINARY keeps pixels *above* the threshold, as ``>`` would
        diff = cv2.absdiff(thumb, self._reference)
        if self._compared % NOISE_EVERY == 0:
            self.threshold = self._noise_threshold(diff)
        self._compared += 1
        _, changed = cv2.threshold(diff, self.threshold, 255, cv2.THRESH_BINARY)
        return cv2.countNonZero(changed) / diff.size

    def _noise_threshold(self, diff: np.ndarray) -> float:
        """``pixel_threshold``, or above it the camera's noise level (see the module's docstring)."""
        flat = diff.reshape(-1)
        median = float(np.partition(flat, flat.size // 2)[flat.size // 2])
        t = self.settings.pixel_threshold
        return min(max(float(t), NOISE_MULTIPLE * median), float(NOISE_CAP * t))

    def should_analyse(self, frame_bgr: np.ndarray, now: float, tracking: bool) -> bool:
        """True when this frame must go to the detector; the frame then becomes the reference.
        Say what detection found there with :meth:`found`."""
        thumb = self.thumbnail(frame_bgr)
        if tracking or self.changed_fraction(thumb) >= self.settings.min_area:
            self._empty_checks = 0
        elif now - self._analysed_at < self._interval():
            self.skipped += 1
            return False
        self._reference = thumb
        self._analysed_at = now
        return True

    def state(self) -> dict:
        """What ``siamese-edge status`` shows of the gate: whether the scene has settled, how often
        detection then runs at the least, and the change threshold it has raised to the camera's noise."""
        return {"settled": self.settled, "look_every_s": self._interval(), "threshold": round(self.threshold, 1)}

    def _interval(self) -> float:
        s = self.settings
        return max(s.idle_interval_s, s.max_interval_s) if self.settled else s.max_interval_s

    def found(self, faces: int) -> None:
        """How many faces detection found on the frame :meth:`should_analyse` just let through."""
        self._empty_checks = 0 if faces else self._empty_checks + 1
