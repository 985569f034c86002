"""Naming someone only after N agreeing frames, once per visit, with a cooldown; unknown only when it persists."""

import dataclasses

import numpy as np

from edge.config import RecognitionConfig, parse_config
from edge.tracking import Tracker
from edge.vision.detector import Face
from edge.vision.matcher import Match
from edge.vision.pipeline import Identified


def seen(name, box=(100, 100, 80, 80), score=0.97):
    face = Face(box, 0.9, np.zeros((6, 2), np.float32))
    return Identified(face, Match(name, score, name or "X", "Y", 0.5), np.zeros(4), np.zeros((2, 2, 3)))


def run(tracker, frames, start=0.0, dt=0.1):
    out = []
    for i, names in enumerate(frames):
        out += tracker.update([seen(n) for n in names], start + i * dt)
    return out


CFG = RecognitionConfig(votes_needed=3, votes_window=5, cooldown_s=60, unknown_after_frames=4, track_timeout_s=1)


def test_a_name_needs_three_agreeing_frames_of_five():
    tracker = Tracker(CFG)
    assert run(tracker, [["Alice"], [None], ["Alice"]]) == []
    (a,) = run(tracker, [["Alice"]], start=0.3)
    assert (a.kind, a.name) == ("recognized", "Alice")


def test_one_announcement_per_visit_not_per_frame():
    tracker = Tracker(CFG)
    out = run(tracker, [["Alice"]] * 30)
    assert [(a.kind, a.name) for a in out] == [("recognized", "Alice")]


def test_cooldown_silences_a_quick_return_but_not_a_later_one():
    tracker = Tracker(CFG)
    first = run(tracker, [["Alice"]] * 5, start=0)
    back_soon = run(tracker, [["Alice"]] * 5, start=10)  # new track (old one timed out), within 60 s
    back_later = run(tracker, [["Alice"]] * 5, start=100)
    assert len(first) == 1 and back_soon == [] and len(back_later) == 1


def test_unknown_is_announced_once_after_it_persists():
    tracker = Tracker(CFG)
    assert run(tracker, [[None]] * 3) == []
    out = run(tracker, [[None]] * 10, start=0.3)
    assert [(a.kind, a.name) for a in out] == [("unknown", None)]


def test_flicker_never_names_anyone():
    tracker = Tracker(CFG)
    assert run(tracker, [["Alice"], ["Bob"], [None], ["Alice"], ["Bob"], [None]] * 3) == []


def test_two_people_in_one_frame_are_two_tracks():
    tracker = Tracker(CFG)
    out = []
    for i in range(4):
        out += tracker.update([seen("Alice", (0, 0, 50, 50)), seen("Bob", (300, 0, 50, 50))], i * 0.1)
    assert sorted(a.name for a in out) == ["Alice", "Bob"]


def frame_with_carry_over(tracker, identify, box=(100, 100, 80, 80), now=0.0):
    """One daemon frame: carried-over matches where allowed, ``identify(face)`` for the rest.
    Returns (announcements, carried?)."""
    face = Face(box, 0.9, np.zeros((6, 2), np.float32))
    (carried,) = tracker.carried_over([face], now)
    r = carried if carried is not None else identify(face)
    return tracker.update([r], now), carried is not None


def identified_as(name):
    def identify(face):
        return Identified(face, Match(name, 0.97, name or "X", "Y", 0.5), np.zeros(4), np.zeros((2, 2, 3)))
    return identify


CARRY = RecognitionConfig(votes_needed=3, votes_window=5, cooldown_s=60, unknown_after_frames=4,
                          track_timeout_s=1, reidentify_every=4)


def test_a_recognised_track_is_reidentified_every_nth_frame():
    tracker = Tracker(CARRY)
    pattern = [frame_with_carry_over(tracker, identified_as("Alice"), now=i * 0.1)[1] for i in range(15)]
    # 3 frames to be announced, then every 4th frame identified afresh, the 3 between carried over
    assert pattern[:3] == [False] * 3
    assert pattern[3:] == [True, True, True, False] * 3


def test_nothing_is_carried_over_for_unknown_faces_or_with_reidentify_every_1():
    tracker = Tracker(CARRY)
    assert not any(frame_with_carry_over(tracker, identified_as(None), now=i * 0.1)[1] for i in range(12))
    tracker = Tracker(RecognitionConfig(reidentify_every=1))
    assert not any(frame_with_carry_over(tracker, identified_as("Alice"), now=i * 0.1)[1] for i in range(12))


def test_a_stranger_taking_a_known_persons_place_stops_the_carry_over():
    """Alice steps out of the box and a stranger steps in within one track: at the next fresh look the
    stranger is not Alice, and from then on every frame is identified afresh."""
    tracker = Tracker(CARRY)
    for i in range(4):
        frame_with_carry_over(tracker, identified_as("Alice"), now=i * 0.1)
    carried = [frame_with_carry_over(tracker, identified_as(None), now=0.4 + i * 0.1)[1] for i in range(8)]
    assert carried[:3] == [True, True] + [False] and not any(carried[3:])


def test_a_moved_face_or_a_changed_gallery_is_identified_afresh():
    tracker = Tracker(CARRY)
    for i in range(4):
        frame_with_carry_over(tracker, identified_as("Alice"), now=i * 0.1)
    # moved half a box sideways: IoU 1/3, still the track (≥ 0.3) but not enough to carry a name over
    assert frame_with_carry_over(tracker, identified_as("Alice"), box=(140, 100, 80, 80), now=0.4)[1] is False
    assert frame_with_carry_over(tracker, identified_as("Alice"), box=(140, 100, 80, 80), now=0.5)[1] is True
    tracker.reidentify_all()
    assert frame_with_carry_over(tracker, identified_as("Alice"), box=(140, 100, 80, 80), now=0.6)[1] is False


def test_a_carried_over_match_reports_the_new_box():
    tracker = Tracker(CARRY)
    for i in range(4):
        frame_with_carry_over(tracker, identified_as("Alice"), now=i * 0.1)
    face = Face((104, 100, 80, 80), 0.9, np.zeros((6, 2), np.float32))
    (c,) = tracker.carried_over([face], 0.4)
    assert c.carried and c.face is face and c.match.name == "Alice"


def test_a_track_that_timed_out_carries_nothing():
    """The camera was away for a while: whoever stands there now is identified afresh."""
    tracker = Tracker(CARRY)
    for i in range(4):
        frame_with_carry_over(tracker, identified_as("Alice"), now=i * 0.1)
    assert frame_with_carry_over(tracker, identified_as("Alice"), now=0.4)[1] is True
    assert frame_with_carry_over(tracker, identified_as(None), now=30.0)[1] is False


def look(name, embedding, box=(100, 100, 80, 80)):
    face = Face(box, 0.9, np.zeros((6, 2), np.float32))
    return Identified(face, Match(name, 0.95, name or "X", "Y", 0.5), np.asarray(embedding, np.float32),
                      np.zeros((2, 2, 3)))


def unit(*v):
    v = np.asarray(v, np.float32)
    return v / np.linalg.norm(v)


ALICE, ALICE_TURNED, STRANGER = unit(1, 0, 0), unit(1, 0.3, 0), unit(1, 1.2, 0)  # cosines 0.96, 0.64


def visit(tracker, looks, start=0.0):
    out = []
    for i, r in enumerate(looks):
        out += tracker.update([r], start + i * 0.1)
    return [(a.kind, a.name) for a in out]


def test_a_stranger_right_behind_a_known_person_is_announced():
    """Alice is recognised, then a stranger steps into her place with no gap: without the identity
    check the stranger would inherit Alice's finished visit and never be announced."""
    tracker = Tracker(CFG)
    assert visit(tracker, [look("Alice", ALICE)] * 4 + [look(None, STRANGER)] * 5) == [
        ("recognized", "Alice"), ("unknown", None)]
    old_behaviour = Tracker(dataclasses.replace(CFG, identity_change_below=None))
    assert visit(old_behaviour, [look("Alice", ALICE)] * 4 + [look(None, STRANGER)] * 5) == [("recognized", "Alice")]


def test_a_known_person_turning_away_keeps_the_track():
    """Unrecognised for a while but still close to her own last look: no new track, no 'unknown'."""
    tracker = Tracker(CFG)
    assert visit(tracker, [look("Alice", ALICE)] * 4 + [look(None, ALICE_TURNED)] * 8) == [("recognized", "Alice")]
    assert len(tracker.tracks) == 1


def test_a_look_the_gallery_still_names_never_splits_the_track():
    tracker = Tracker(CFG)
    visit(tracker, [look("Alice", ALICE)] * 4 + [look("Alice", STRANGER)] * 3)
    assert len(tracker.tracks) == 1


def test_track_iou_is_how_much_a_face_must_overlap_its_last_box_to_stay_one_visitor():
    """``recognition.track_iou`` from config.yaml: a stranger walking across the picture (each box
    overlaps the one before by IoU 0.68) is one visitor at the default 0.3, announced unknown once;
    at 0.9 each frame starts a new track, none lasts the four frames an unknown needs."""
    walking = [[seen(None, box=(100 + 15 * i, 100, 80, 80))] for i in range(10)]
    announced = {}
    for track_iou in (0.3, 0.9):
        cfg = parse_config(f"recognition: {{unknown_after_frames: 4, track_iou: {track_iou}}}").recognition
        tracker = Tracker(cfg)
        announced[track_iou] = [(a.kind, a.track_id) for i, frame in enumerate(walking)
                                for a in tracker.update(frame, i * 0.1)]
    assert announced[0.3] == [("unknown", 1)]
    assert announced[0.9] == []
