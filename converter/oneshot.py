"""The seed project's own task as a benchmark: N-way one-shot identification.

A folder-per-person dataset (``DIR/<Name>/*.jpg``). Each trial picks N people, enrols one random
photo of each, and shows a different photo of one of them: closed-set, is the best-scoring person
the right one; open-set, does the device's decision rule (the card's threshold and margin) name
the right one. Every photo goes through exactly what ``siamese-edge identify`` runs
(:meth:`Recognizer.identify` with ``photo=True``: reading, false colour, detection, the border
retry, alignment, embedding), once, before any trial; a photo with no face counts as a detect
failure and takes part in no trial.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from edge.errors import ImageError
from edge.vision.imageio import IMAGE_SUFFIXES, read_photo
from edge.vision.pipeline import Recognizer
from edge.vision.preprocess import no_face_reason

BLOCKS = 10  # the spread is reported as the std of accuracy over this many equal blocks of trials


@dataclass
class Embedded:
    people: list[str]  # people with at least two usable photos (one to enrol, another to probe)
    photos: list[np.ndarray]  # per person: (photos, D) embeddings
    failed: dict[str, str]  # photo → why no face came from it (none found, blank, unreadable)
    total: int


def embed_folder(rec: Recognizer, folder: Path, progress: bool = True) -> Embedded:
    people, photos, total = [], [], 0
    failed: dict[str, str] = {}
    dirs = sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    files = [(d.name, f) for d in dirs for f in sorted(d.iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES]
    by_person: dict[str, list[np.ndarray]] = {}
    for person, f in tqdm(files, desc="embedding", unit="photo", disable=not progress, file=sys.stderr):
        total += 1
        try:
            image, _ = read_photo(f)
        except ImageError as exc:
            failed[str(f)] = str(exc).removeprefix(f"{f}: ")
            continue
        found = rec.identify(image, photo=True)
        if not found:
            failed[str(f)] = no_face_reason(image)
            continue
        by_person.setdefault(person, []).append(found[0].embedding)  # the largest face
    for person, embs in sorted(by_person.items()):
        if len(embs) >= 2:
            people.append(person)
            photos.append(np.stack(embs))
    return Embedded(people, photos, failed, total)


def run_trials(rec: Recognizer, data: Embedded, n_way: int, trials: int, rng: np.random.Generator) -> dict:
    """``trials`` N-way one-shot trials: closed-set rank-1 and open-set (shipped rule) accuracy."""
    closed = np.zeros(trials, bool)
    opened = np.zeros(trials, bool)
    for t in range(trials):
        chosen = rng.choice(len(data.people), n_way, replace=False)
        target = int(rng.integers(n_way))
        names, gallery, probe = [], [], None
        for k, person in enumerate(chosen):
            embs = data.photos[person]
            enrol, other = rng.choice(len(embs), 2, replace=False)
            names.append(data.people[person])
            gallery.append(embs[enrol])
            if k == target:
                probe = embs[other]
        matcher = rec.make_matcher(names, np.stack(gallery))
        truth = names[target]
        scores = matcher.person_scores(probe)
        closed[t] = matcher.people[int(np.argmax(scores))] == truth
        opened[t] = matcher.match(probe).name == truth
    return {"n_way": n_way, "trials": trials, **_summary("closed_set", closed), **_summary("open_set", opened)}


def _summary(kind: str, hits: np.ndarray) -> dict:
    blocks = [b.mean() for b in np.array_split(hits, BLOCKS) if len(b)]
    return {f"{kind}_rank1": float(hits.mean()), f"{kind}_std": float(np.std(blocks))}


def evaluate_oneshot(folder: str | Path, model: str | None = None, trials: int = 1000, seed: int = 0,
                     max_way: int | None = None, plot: str | None = None, progress: bool = True) -> dict:
    rec = Recognizer(model)
    data = embed_folder(rec, Path(folder), progress)
    if len(data.people) < 2:
        raise ImageError(f"{folder}: one-shot trials need at least two people with two usable photos each "
                         f"(found {len(data.people)})")
    rng = np.random.default_rng(seed)
    top = min(max_way or len(data.people), len(data.people))
    rows = [run_trials(rec, data, n, trials, rng) for n in range(2, top + 1)]
    report = {"folder": str(folder), "model": rec.embedder.path.name, "seed": seed,
              "decision": {"scoring": rec.decision.scoring, "threshold": rec.decision.threshold,
                           "margin": rec.decision.margin},
              "photos": data.total, "detect_failures": len(data.failed), "failed": list(data.failed),
              "why_failed": data.failed,
              "people": len(data.people), "rows": rows}
    if plot:
        from converter.plots import oneshot_plot

        oneshot_plot(report, Path(plot))
    return report
