"""The motion gate: an empty, still scene skips detection; nobody who steps in is missed."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge.config import parse_config
from edge.daemon import Daemon
from edge.vision.motion import MotionGate, MotionSettings
from tests.scenes import frame_of
from tests.test_daemon import ListSink, config_text, write_replay


def run_recording(base, extra: str = "", miss_first_face: bool = False,
                  ) -> tuple[list[tuple[str, str | None]], list[tuple[int, int, bool]], Daemon]:
    """Run the daemon over ``base/replay`` (every frame, in order); return its announcements and,
    for every frame that went to the detector, (frame index, faces found, anybody tracked then).
    ``miss_first_face``: detection misses the face on the first analysed frame that shows one, as
    it would a blurred or turned face while the person moved."""
    text = config_text(base) + extra
    sink = ListSink()
    daemon = Daemon(parse_config(text), sinks=[sink])
    detected: list[tuple[int, int, bool]] = []
    detect = daemon.recognizer.detect
    missed: list[int] = []

    def recording(frame, min_face_px=0.0):
        faces = detect(frame, min_face_px)
        if faces and miss_first_face and not missed:
            missed.append(daemon.processed)
            faces = []
        detected.append((daemon.processed, len(faces), bool(daemon.tracker.tracks)))
        return faces

    daemon.recognizer.detect = recording
    # with realtime: false the daemon runs tracks and the gate on the replay's own 20 fps clock, so
    # a stall of a busy machine between two frames cannot end a track in the middle of a visit
    assert daemon.run() == 0
    return [(e.type, e.name) for e in sink.events if e.type in ("recognized", "unknown")], detected, daemon


def noisy_frames(photo, n: int, sigma: float | None = None, seed: int = 0) -> list[np.ndarray]:
    """``n`` frames of one scene with fresh sensor noise on each: ±4 grey levels, or Gaussian noise
    of standard deviation ``sigma`` (a dim room's camera)."""
    still = frame_of(photo).astype(np.float32)
    rngs = [np.random.default_rng(seed + i) for i in range(n)]
    noise = [r.integers(-4, 5, still.shape) if sigma is None else r.normal(0, sigma, still.shape) for r in rngs]
    return [np.clip(still + e, 0, 255).astype(np.uint8) for e in noise]


def analysed_times(gate: MotionGate, frames: list[np.ndarray], start: float, faces: int = 0) -> list[float]:
    """Feed ``frames`` at 10 fps from ``start``; detection finds ``faces`` on each analysed one."""
    analysed = []
    for i, frame in enumerate(frames):
        t = round(start + i * 0.1, 1)
        if gate.should_analyse(frame, t, tracking=False):
            gate.found(faces)
            analysed.append(t)
    return analysed


def test_an_empty_still_scene_settles_to_one_detection_every_idle_interval(faces):
    gate = MotionGate(MotionSettings(max_interval_s=2.0, idle_interval_s=30.0))
    # 10 fps for 70 s: the first frame, every 2 s until three looks found nobody, then every 30 s
    assert analysed_times(gate, noisy_frames(None, 700), 0.0) == [0.0, 2.0, 4.0, 34.0, 64.0]
    assert gate.settled and gate.skipped == 695
    # a change (somebody came and stays, but detection does not find them) unsettles it: every 2 s
    # again until three looks found nobody, then every 30 s
    assert analysed_times(gate, noisy_frames(faces.hopper, 400), 70.0, faces=0) == [70.0, 72.0, 74.0, 104.0]
    assert gate.should_analyse(noisy_frames(faces.hopper, 1)[0], 110.1, tracking=True)  # anybody tracked: every frame


@pytest.mark.parametrize("sigma", [6, 10])
def test_a_noisy_camera_keeps_the_gate_shut_yet_a_person_stepping_in_opens_it(faces, sigma):
    """Sensor noise of σ grey levels on every pixel (a dim hallway): with the fixed threshold of 12 the
    gate would open on nearly every frame; the threshold follows the noise instead."""
    gate = MotionGate(MotionSettings(max_interval_s=2.0, idle_interval_s=30.0))
    assert analysed_times(gate, noisy_frames(None, 100, sigma), 0.0) == [0.0, 2.0, 4.0]
    assert gate.threshold > 12
    assert analysed_times(gate, noisy_frames(faces.hopper, 3, sigma, seed=100), 10.0, faces=1)[0] == 10.0


def test_a_person_stepping_into_a_still_empty_scene_is_seen_on_their_first_frame(faces, tmp_path):
    (tmp_path / "gallery" / "Barack Obama").mkdir(parents=True)
    (tmp_path / "gallery" / "Barack Obama" / "1.jpg").write_bytes(faces.obama[0].read_bytes())
    write_replay(tmp_path / "replay", [(None, 30), (faces.obama[1], 12), (None, 30), (faces.hopper, 12), (None, 10)])
    off, detected_off, _ = run_recording(tmp_path, "motion: {gate: false}\n")
    on, detected_on, daemon = run_recording(tmp_path, "motion: {gate: true, max_interval_s: 3600}\n")
    assert on == off == [("recognized", "Barack Obama"), ("unknown", None)]  # announced as before
    assert len(detected_off) == 94
    first_with_face = [i for i, n, _ in detected_on if n][0], [i for i, n, _ in detected_on if n and i > 50][0]
    assert first_with_face == (30, 72)  # the very frames they appear in
    # of the frames with nobody in view, only the first was analysed while nobody was tracked (a
    # track lives on for track_timeout_s after its face has gone, and keeps the gate open meanwhile)
    assert [i for i, n, tracking in detected_on if not n and not tracking] == [0]
    assert daemon.gate.skipped == 94 - len(detected_on) > 0


def test_a_dim_rooms_noise_is_gated_and_the_visitor_announced_from_their_first_frame(faces, tmp_path):
    """The daemon on a replay from a noisy camera (σ 8 grey levels on every pixel of every frame)."""
    (tmp_path / "gallery" / "Barack Obama").mkdir(parents=True)
    (tmp_path / "gallery" / "Barack Obama" / "1.jpg").write_bytes(faces.obama[0].read_bytes())
    (tmp_path / "replay").mkdir()
    frames = noisy_frames(None, 30, 8) + noisy_frames(faces.obama[1], 12, 8, seed=30) + noisy_frames(None, 10, 8, 42)
    for i, frame in enumerate(frames):
        cv2.imwrite(str(tmp_path / "replay" / f"{i:05d}.png"), frame)
    found, detected, daemon = run_recording(tmp_path, "motion: {gate: true, max_interval_s: 3600}\n")
    assert found == [("recognized", "Barack Obama")]
    assert [i for i, n, _ in detected if n][0] == 30  # the frame he appears in
    assert [i for i, _, _ in detected if i < 30] == [0]  # the noise alone opened the gate never
    assert daemon.gate.threshold > 12


def test_a_still_person_whom_detection_missed_as_they_came_in_is_found_within_max_interval(faces, tmp_path):
    """The gate opens as the person steps in, but detection misses them there; they stand still, so
    the gate sees no further change — the next look, ``max_interval_s`` later, finds them."""
    (tmp_path / "gallery" / "Barack Obama").mkdir(parents=True)
    (tmp_path / "gallery" / "Barack Obama" / "1.jpg").write_bytes(faces.obama[0].read_bytes())
    write_replay(tmp_path / "replay", [(None, 30), (faces.obama[1], 400)])
    found, detected, _ = run_recording(tmp_path, "motion: {gate: true, max_interval_s: 0.1}\n", miss_first_face=True)
    assert found == [("recognized", "Barack Obama")]
    assert (30, 0, False) in detected  # the frame they appeared in went to detection, which missed them
    missed, detected, _ = run_recording(tmp_path, "motion: {gate: true, max_interval_s: 3600}\n", miss_first_face=True)
    assert missed == [] and detected == [(0, 0, False), (30, 0, False)]  # nothing looked again


def test_a_still_person_the_gate_cannot_see_is_found_by_the_idle_check(faces, tmp_path):
    """``min_area: 0.9``: a person stepping in changes too little of the picture to open the gate (as
    a change the gate cannot tell from noise would); the slow check of a settled scene
    (``idle_interval_s``) finds them anyway — and without it they would stay unseen."""
    (tmp_path / "gallery" / "Barack Obama").mkdir(parents=True)
    (tmp_path / "gallery" / "Barack Obama" / "1.jpg").write_bytes(faces.obama[0].read_bytes())
    write_replay(tmp_path / "replay", [(None, 5), (faces.obama[1], 400)])
    found, _, daemon = run_recording(
        tmp_path, "motion: {gate: true, min_area: 0.9, max_interval_s: 0.1, idle_interval_s: 0.1}\n")
    assert found == [("recognized", "Barack Obama")]
    missed, detected, _ = run_recording(
        tmp_path, "motion: {gate: true, min_area: 0.9, max_interval_s: 3600, idle_interval_s: 3600}\n")
    assert missed == [] and detected == [(0, 0, False)]  # only the very first frame was analysed


@pytest.mark.parametrize("pixel_threshold, opens", [(12, True), (30, False)])
def test_motion_pixel_threshold_is_how_many_grey_levels_count_as_change(faces, tmp_path, pixel_threshold, opens):
    """``motion.pixel_threshold`` from config.yaml, through the gate the daemon builds: a light
    patch brightening a sixteenth of a still, empty picture by 20 grey levels is change at the
    default 12 and not at 30 (then the next look waits for ``max_interval_s``)."""
    text = config_text(tmp_path) + f"motion: {{gate: true, pixel_threshold: {pixel_threshold}}}\n"
    gate = Daemon._new_gate(parse_config(text))
    still = frame_of(None)
    lit = still.copy()
    lit[:120, :160] = np.clip(lit[:120, :160].astype(int) + 20, 0, 255).astype(np.uint8)
    assert gate.should_analyse(still, 0.0, tracking=False)  # the first frame is always looked at
    gate.found(0)
    assert gate.should_analyse(still, 0.1, tracking=False) is False  # nothing changed
    assert gate.should_analyse(lit, 0.2, tracking=False) is opens
