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
from pathlib import Path

import numpy as np

from converter.crops import crop_images
from converter.embeddings import load_model
from converter.lfw import identity_folders, pair_identities, read_pairs
from edge.card import Decision, ModelCard
from edge.matcher import Matcher

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


def evaluate_openset(model_path, images, exclude_pairs=(), n_enrolled=300, per_person=3, n_unknown=1000, seed=1,
                     far=0.01, plots=None, within_pairs=()) -> dict:
    model = load_model(model_path)
    folders = identity_folders(images)
    excluded = set()
    for f in exclude_pairs:
        excluded |= pair_identities(read_pairs(f, images))
    if within_pairs:  # only identities of these files (e.g. those disjoint from training) are used
        allowed = set()
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
    gallery_paths, owners, probe_paths, probe_owner = [], [], [], []
    for i, name in enumerate(enrolled):
        files = list(folders[name])
        rng.shuffle(files)
        gallery_paths += files[:per_person]
        owners += [i] * per_person
        for f in files[per_person:per_person + 5]:
            probe_paths.append(f)
            probe_owner.append(i)
    unknown_paths = [rng.choice(folders[n]) for n in strangers]
    paths = gallery_paths + probe_paths + unknown_paths
    crops, detected = crop_images(paths, model.alignment, model.card.colour)
    emb = model.embed(crops)
    g = emb[:len(gallery_paths)]
    kp = emb[len(gallery_paths):len(gallery_paths) + len(probe_paths)]
    up = emb[len(gallery_paths) + len(probe_paths):]
    owners_a, truth = np.array(owners), np.array(probe_owner)
    k_half = np.arange(len(kp)) % 2  # 0 = calibration, 1 = held out
    u_half = np.arange(len(up)) % 2
    report = {"model": str(model_path), "n_enrolled": len(enrolled), "photos_per_person": per_person,
              "n_known_probes": len(kp), "n_unknown_probes": len(up), "target_far": far,
              "n_detect_failed": int((~detected).sum()), "excluded_identities": len(excluded), "scorings": {}}
    curves = {}
    best_rule = None
    for scoring in ("cosine", "head"):
        ks = person_scores(kp, g, owners_a, len(enrolled), model.card, scoring)
        us = person_scores(up, g, owners_a, len(enrolled), model.card, scoring)
        k_top, k_best, k_second = top2(ks)
        u_top, u_best, u_second = top2(us)
        rank1 = float((k_top == truth).mean())
        entry = {"rank1": rank1, "dir_at_far": {}, "by_margin": []}
        for margin in MARGINS[scoring]:
            # choose on the calibration half, measure on the held-out half
            t = rule_for_far(u_best[u_half == 0], (u_best - u_second)[u_half == 0], margin, far)
            sel_k, sel_u = k_half == 1, u_half == 1
            known = (k_top[sel_k], k_best[sel_k], (k_best - k_second)[sel_k], truth[sel_k])
            dir_, far_ = rates(known, (u_best[sel_u], (u_best - u_second)[sel_u]), t, margin)
            entry["by_margin"].append({"margin": float(margin), "threshold": t, "dir": dir_, "far": far_})
        for target in (0.01, 0.001):  # the curve value at each FAR, both halves together
            known_all = (k_top, k_best, k_best - k_second, truth)
            t0 = rule_for_far(u_best, u_best - u_second, 0.0, target)
            entry["dir_at_far"][str(target)] = {
                "no_margin": rates(known_all, (u_best, u_best - u_second), t0, 0.0)[0]}
            best_m = max(MARGINS[scoring], key=lambda m, t=target: rates(
                known_all, (u_best, u_best - u_second), rule_for_far(u_best, u_best - u_second, m, t), m)[0])
            tm = rule_for_far(u_best, u_best - u_second, best_m, target)
            entry["dir_at_far"][str(target)]["with_margin"] = rates(known_all, (u_best, u_best - u_second), tm,
                                                                    best_m)[0]
            entry["dir_at_far"][str(target)]["best_margin"] = float(best_m)
        pick = max(entry["by_margin"], key=lambda r: (r["dir"], -r["margin"]))
        entry["chosen"] = pick
        report["scorings"][scoring] = entry
        curves[scoring] = (k_top, k_best, k_second, truth, u_best, u_second)
        if best_rule is None or pick["dir"] > best_rule[1]["dir"]:
            best_rule = (scoring, pick)
    scoring, pick = best_rule
    report.update({"scoring": scoring, "threshold": pick["threshold"], "margin": pick["margin"],
                   "rank1": report["scorings"][scoring]["rank1"], "dir_at_far": {
                       "held_out_at_shipped_rule": {"dir": pick["dir"], "far": pick["far"]},
                       **report["scorings"][scoring]["dir_at_far"]}})
    if plots:
        from converter.plots import openset_plot

        Path(plots).mkdir(parents=True, exist_ok=True)
        openset_plot(curves, report, Path(plots) / "openset_dir_far.png")
    return report
