"""The seed project's own task as a benchmark: N-way one-shot identification.

A folder-per-person dataset (``DIR/<Name>/*.jpg``). Each trial picks N people, enrols one random
photo of each, and shows a different photo of one of them: closed-set, is the best-scoring person
the right one; open-set, does the device's decision rule (the card's threshold and margin) name
the right one. Every photo goes through exactly what ``siamese-edge identify`` runs
(:meth:`Recognizer.identify` with ``photo=True``: reading, false colour, detection, the border
retry, alignment, embedding), once, before any trial; a photo with no face counts as a detect
failure and takes part in no trial.

"A different photo" is taken literally: a file whose pixels are identical to one read before it (the
seed's ``eval/`` files some pictures two or three times under different names) is reported as a copy
and left out, so no trial enrols a picture and probes with its own copy — a trial no model can fail.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from converter.lfw import people_folder
from edge.errors import ImageError
from edge.vision.imageio import read_photo
from edge.vision.pipeline import Recognizer
from edge.vision.preprocess import no_face_reason
from gallery.layout import scan

BLOCKS = 10  # the spread is reported as the std of accuracy over this many equal blocks of trials


@dataclass
class Embedded:
    people: list[str]  # people with at least two usable photos (one to enrol, another to probe)
    photos: list[np.ndarray]  # per person: (photos, D) embeddings
    failed: dict[str, str]  # photo → why no face came from it (none found, blank, unreadable)
    total: int
    copies: dict[str, str] = field(default_factory=dict)  # photo → the photo read earlier with the same pixels
    skipped: dict[str, str] = field(default_factory=dict)  # entry → why it is not a photo to use


def embed_folder(rec: Recognizer, folder: Path, progress: bool = True) -> Embedded:
    """Every distinct photo of ``folder/<Name>/`` through ``identify``'s path once (copies of a photo
    already read are only noted), the largest face's embedding kept per photo.

    The folder is read as a gallery is (:func:`gallery.layout.scan`): the same layout, and symlinks
    that leave it, nested folders or temporary files are named and skipped, never followed."""
    files, skipped = scan(people_folder(folder))
    people, photos = [], []
    failed: dict[str, str] = {}
    copies: dict[str, str] = {}
    first_with: dict[bytes, str] = {}  # pixel digest → the first photo that had those pixels
    by_person: dict[str, list[np.ndarray]] = {}
    for entry in tqdm(files, desc="embedding", unit="photo", disable=not progress, file=sys.stderr):
        f = entry.path
        try:
            image, _ = read_photo(f)
        except ImageError as exc:
            failed[str(f)] = str(exc).removeprefix(f"{f}: ")
            continue
        digest = pixel_digest(image)
        if digest in first_with:
            copies[str(f)] = first_with[digest]
            continue
        first_with[digest] = str(f)
        found = rec.identify(image, photo=True)
        if not found:
            failed[str(f)] = no_face_reason(image)
            continue
        by_person.setdefault(entry.person, []).append(found[0].embedding)  # the largest face
    for person, embs in sorted(by_person.items()):
        if len(embs) >= 2:
            people.append(person)
            photos.append(np.stack(embs))
    return Embedded(people, photos, failed, len(files), copies, {str(s.path): s.reason for s in skipped})


def pixel_digest(image: np.ndarray) -> bytes:
    """A digest of a decoded picture's size and pixels: equal for two files holding the same picture,
    whatever their names or metadata."""
    return hashlib.sha256(repr(image.shape).encode() + np.ascontiguousarray(image).tobytes()).digest()


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
                         f"(found {len(data.people)}{_left_out(data)})")
    rng = np.random.default_rng(seed)
    top = min(max_way or len(data.people), len(data.people))
    rows = [run_trials(rec, data, n, trials, rng) for n in range(2, top + 1)]
    report = {"folder": str(folder), "model": rec.embedder.path.name, "seed": seed,
              "decision": {"scoring": rec.decision.scoring, "threshold": rec.decision.threshold,
                           "margin": rec.decision.margin},
              "photos": data.total, "skipped": data.skipped, "copies": data.copies,
              "detect_failures": len(data.failed), "failed": list(data.failed),
              "why_failed": data.failed,
              "people": len(data.people), "rows": rows}
    if plot:
        from converter.plots import oneshot_plot

        oneshot_plot(report, Path(plot))
    return report


def _left_out(data: Embedded) -> str:
    """What did not count, for an error message: "; left out: 1 copied from another photo, …"."""
    parts = [f"{n} {what}" for n, what in ((len(data.copies), "copied from another photo"),
                                           (len(data.failed), "without a usable face"),
                                           (len(data.skipped), "skipped entries")) if n]
    return "; left out: " + ", ".join(parts) if parts else ""
