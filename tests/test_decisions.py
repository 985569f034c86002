"""Naming someone only after N agreeing frames, once per visit, with a cooldown; unknown only when it persists."""

import numpy as np

from edge.config import RecognitionConfig
from edge.decisions import DecisionMaker
from edge.detector import Face
from edge.matcher import Match
from edge.pipeline import Identified


def seen(name, box=(100, 100, 80, 80), score=0.97):
    face = Face(box, 0.9, np.zeros((6, 2), np.float32))
    return Identified(face, Match(name, score, name or "X", "Y", 0.5), np.zeros(4), np.zeros((2, 2, 3)))


def run(dm, frames, start=0.0, dt=0.1):
    out = []
    for i, names in enumerate(frames):
        out += dm.update([seen(n) for n in names], start + i * dt)
    return out


CFG = RecognitionConfig(votes_needed=3, votes_window=5, cooldown_s=60, unknown_after_frames=4, track_timeout_s=1)


def test_a_name_needs_three_agreeing_frames_of_five():
    dm = DecisionMaker(CFG)
    assert run(dm, [["Alice"], [None], ["Alice"]]) == []
    (a,) = run(dm, [["Alice"]], start=0.3)
    assert (a.kind, a.name) == ("recognized", "Alice")


def test_one_announcement_per_visit_not_per_frame():
    dm = DecisionMaker(CFG)
    out = run(dm, [["Alice"]] * 30)
    assert [(a.kind, a.name) for a in out] == [("recognized", "Alice")]


def test_cooldown_silences_a_quick_return_but_not_a_later_one():
    dm = DecisionMaker(CFG)
    first = run(dm, [["Alice"]] * 5, start=0)
    back_soon = run(dm, [["Alice"]] * 5, start=10)  # new track (old one timed out), within 60 s
    back_later = run(dm, [["Alice"]] * 5, start=100)
    assert len(first) == 1 and back_soon == [] and len(back_later) == 1


def test_unknown_is_announced_once_after_it_persists():
    dm = DecisionMaker(CFG)
    assert run(dm, [[None]] * 3) == []
    out = run(dm, [[None]] * 10, start=0.3)
    assert [(a.kind, a.name) for a in out] == [("unknown", None)]


def test_flicker_never_names_anyone():
    dm = DecisionMaker(CFG)
    assert run(dm, [["Alice"], ["Bob"], [None], ["Alice"], ["Bob"], [None]] * 3) == []


def test_two_people_in_one_frame_are_two_tracks():
    dm = DecisionMaker(CFG)
    out = []
    for i in range(4):
        out += dm.update([seen("Alice", (0, 0, 50, 50)), seen("Bob", (300, 0, 50, 50))], i * 0.1)
    assert sorted(a.name for a in out) == ["Alice", "Bob"]
