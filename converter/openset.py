"""``siamese-edge evaluate openset``: "one of my people, or a stranger?" on LFW identities.

Protocol: ``n_enrolled`` people (each with more than ``per_person`` photos) are enrolled with
``per_person`` photos; their remaining photos (up to 5 each) are known probes; one photo each of
``n_unknown`` people who are not enrolled are stranger probes. Identities in ``exclude_pairs``
files are never used; with ``within_pairs`` only identities of those files are (the shipped head
was trained on LFW identities outside ``pairs.txt``, so the calibration stays within it).
Probes are split in two halves: the threshold and margin are chosen on the calibration half for
the target false-accept rate and then measured on the held-out half, so the shipped rule's
figures are not fitted to the data they report on.

Scores per person are the best over their enrolled photos (as on the device); a probe is accepted
when best ≥ threshold and best − second best ≥ margin.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from converter.crops import crop_images
from converter.embeddings import load_model
from converter.lfw import identity_folders, pair_identities, read_pairs
from edge.errors import DataFileError
from edge.vision.card import Decision, ModelCard
from edge.vision.matcher import Matcher

MARGINS = {"cosine": np.round(np.arange(0.0, 0.21, 0.01), 3), "head": np.round(np.arange(0.0, 0.31, 0.02), 3)}


def person_scores(probes: np.ndarray, gallery: np.ndarray, owners: np.ndarray, n_people: int, card: ModelCard,
                  scoring: str) -> np.ndarray:
    """``(probes, people)`` best score per person, computed by the device's own :class:`Matcher`."""
    names = [f"{int(o):08d}" for o in owners]  # sorts like the person index, so columns line up
    matcher = Matcher(names, np.asarray(gallery, np.float32), Decision(scoring, card.decision.threshold,
                      card.decision.margin), np.asarray(card.head_weights, np.float32), card.head_bias)
    out = np.full((len(probes), n_people), -np.inf, np.float32)
    columns = [int(p) for p in matcher.people]
    for i, probe in enumerate(probes):
        out[i, columns] = matcher.person_scores(probe)
    return out


def top2(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    order = np.argsort(-scores, axis=1)[:, :2]
    rows = np.arange(len(scores))
    return order[:, 0], scores[rows, order[:, 0]], scores[rows, order[:, 1]]


def rule_for_far(unknown_best: np.ndarray, unknown_gap: np.ndarray, margin: float, far: float) -> float:
    """Lowest threshold whose false-accept rate on strangers stays ≤ ``far`` with this margin."""
    candidates = np.sort(unknown_best[unknown_gap >= margin])[::-1]
    allowed = int(np.floor(far * len(unknown_best)))
    if len(candidates) <= allowed:
        return float(-np.inf)
    return float(np.nextafter(candidates[allowed], np.inf))


def rates(known: tuple, unknown: tuple, threshold: float, margin: float) -> tuple[float, float]:
    """(detection-and-identification rate on known probes, false-accept rate on strangers)."""
    k_top, k_best, k_gap, k_true = known
    u_best, u_gap = unknown
    dir_ = float(((k_best >= threshold) & (k_gap >= margin) & (k_top == k_true)).mean())
    far = float(((u_best >= threshold) & (u_gap >= margin)).mean())
    return dir_, far


@dataclass
class Protocol:
    """Who is enrolled (with which photos), which photos probe them, and which strangers probe."""

    enrolled: list[str]
    excluded: set[str]
    gallery_paths: list[Path]
    owners: list[int]
    probe_paths: list[Path]
    probe_owner: list[int]
    unknown_paths: list[Path]


def choose_protocol(images, exclude_pairs, within_pairs, n_enrolled: int, per_person: int, n_unknown: int,
                    seed: int) -> Protocol:
    """Seeded choice of enrolled people (``per_person`` gallery photos, up to 5 probes each) and of
    strangers (one photo each), never from excluded identities."""
    folders = identity_folders(images)
    excluded: set[str] = set()
    for f in exclude_pairs:
        excluded |= pair_identities(read_pairs(f, images))
    if within_pairs:  # only identities of these files (e.g. those disjoint from training) are used
        allowed: set[str] = set()
        for f in within_pairs:
            allowed |= pair_identities(read_pairs(f, images))
        excluded |= set(folders) - allowed
    rng = random.Random(seed)
    eligible = sorted(n for n, files in folders.items() if len(files) > per_person and n not in excluded)
    rng.shuffle(eligible)
    enrolled = eligible[:n_enrolled]
    strangers = sorted(n for n in folders if n not in excluded and n not in set(enrolled))
    rng.shuffle(strangers)
    strangers = strangers[:n_unknown]
    if len(enrolled) < 2 or not strangers:
        after = " after the pairs files left some out" if excluded else ""
        raise DataFileError(f"{images}: open-set calibration needs at least two people with more than "
                            f"{per_person} photos each, and at least one more person as a stranger (found "
                            f"{len(enrolled)} and {len(strangers)}{after})")
    proto = Protocol(enrolled, excluded, [], [], [], [], [])
    for i, name in enumerate(enrolled):
        files = list(folders[name])
        rng.shuffle(files)
        proto.gallery_paths += files[:per_person]
        proto.owners += [i] * per_person
        for f in files[per_person:per_person + 5]:
            proto.probe_paths.append(f)
            proto.probe_owner.append(i)
    proto.unknown_paths = [rng.choice(folders[n]) for n in strangers]
    return proto


def score_rule(scoring: str, ks: np.ndarray, us: np.ndarray, truth: np.ndarray, far: float) -> tuple[dict, tuple]:
    """One scoring's results: rank-1, the threshold per margin chosen on the calibration half and
    measured on the held-out half, DIR at FAR 1 % and 0.1 %, and the rule it would ship."""
    k_top, k_best, k_second = top2(ks)
    u_top, u_best, u_second = top2(us)
    k_half = np.arange(len(ks)) % 2  # 0 = calibration, 1 = held out
    u_half = np.arange(len(us)) % 2
    entry: dict = {"rank1": float((k_top == truth).mean()), "dir_at_far": {}, "by_margin": []}
    for margin in MARGINS[scoring]:
        t = rule_for_far(u_best[u_half == 0], (u_best - u_second)[u_half == 0], margin, far)
        sel_k, sel_u = k_half == 1, u_half == 1
        known = (k_top[sel_k], k_best[sel_k], (k_best - k_second)[sel_k], truth[sel_k])
        dir_, far_ = rates(known, (u_best[sel_u], (u_best - u_second)[sel_u]), t, margin)
        entry["by_margin"].append({"margin": float(margin), "threshold": t, "dir": dir_, "far": far_})
    known_all, unknown_all = (k_top, k_best, k_best - k_second, truth), (u_best, u_best - u_second)
    for target in (0.01, 0.001):  # the curve value at each FAR, both halves together
        at = {"no_margin": rates(known_all, unknown_all, rule_for_far(*unknown_all, 0.0, target), 0.0)[0]}
        best_m = max(MARGINS[scoring], key=lambda m, t=target: rates(
            known_all, unknown_all, rule_for_far(*unknown_all, m, t), m)[0])
        at["with_margin"] = rates(known_all, unknown_all, rule_for_far(*unknown_all, best_m, target), best_m)[0]
        at["best_margin"] = float(best_m)
        entry["dir_at_far"][str(target)] = at
    entry["chosen"] = max(entry["by_margin"], key=lambda r: (r["dir"], -r["margin"]))
    return entry, (k_top, k_best, k_second, truth, u_best, u_second)


def evaluate_openset(model_path, images, exclude_pairs=(), n_enrolled=300, per_person=3, n_unknown=1000, seed=1,
                     far=0.01, plots=None, within_pairs=()) -> dict:
    model = load_model(model_path)
    proto = choose_protocol(images, exclude_pairs, within_pairs, n_enrolled, per_person, n_unknown, seed)
    paths = proto.gallery_paths + proto.probe_paths + proto.unknown_paths
    crops, detected = crop_images(paths, model.alignment, model.card.colour)
    emb = model.embed(crops)
    n_g, n_k = len(proto.gallery_paths), len(proto.probe_paths)
    g, kp, up = emb[:n_g], emb[n_g:n_g + n_k], emb[n_g + n_k:]
    owners_a, truth = np.array(proto.owners), np.array(proto.probe_owner)
    report = {"model": str(model_path), "n_enrolled": len(proto.enrolled), "photos_per_person": per_person,
              "n_known_probes": len(kp), "n_unknown_probes": len(up), "target_far": far,
              "n_detect_failed": int((~detected).sum()), "excluded_identities": len(proto.excluded),
              "scorings": {}}
    curves = {}
    for scoring in ("cosine", "head"):
        ks = person_scores(kp, g, owners_a, len(proto.enrolled), model.card, scoring)
        us = person_scores(up, g, owners_a, len(proto.enrolled), model.card, scoring)
        report["scorings"][scoring], curves[scoring] = score_rule(scoring, ks, us, truth, far)
    scoring = max(("cosine", "head"), key=lambda s: report["scorings"][s]["chosen"]["dir"])
    pick = report["scorings"][scoring]["chosen"]
    report.update({"scoring": scoring, "threshold": pick["threshold"], "margin": pick["margin"],
                   "rank1": report["scorings"][scoring]["rank1"], "dir_at_far": {
                       "held_out_at_shipped_rule": {"dir": pick["dir"], "far": pick["far"]},
                       **report["scorings"][scoring]["dir_at_far"]}})
    if plots:
        from converter.plots import openset_plot

        Path(plots).mkdir(parents=True, exist_ok=True)
        openset_plot(curves, report, Path(plots) / "openset_dir_far.png")
    return report
