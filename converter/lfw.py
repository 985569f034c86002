"""LFW protocol files and folder-per-identity datasets.

``pairs.txt`` (View 2): a header ``10 300`` then, per fold, 300 matched lines ``name i j`` and 300
mismatched lines ``name1 i name2 j``. ``pairsDevTrain.txt`` / ``pairsDevTest.txt`` (View 1): a
header ``N`` then N matched and N mismatched lines. Images are ``<root>/<name>/<name>_<iiii>.jpg``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edge.vision.imageio import IMAGE_SUFFIXES


@dataclass(frozen=True)
class Pair:
    a: Path
    b: Path
    same: bool
    fold: int


def lfw_image(root: Path, name: str, index: int) -> Path:
    return root / name / f"{name}_{index:04d}.jpg"


def read_pairs(pairs_file: str | Path, images: str | Path) -> list[Pair]:
    """Parse a View 1 or View 2 pairs file into :class:`Pair` rows with their fold number."""
    root = Path(images)
    lines = [ln.split() for ln in Path(pairs_file).read_text().splitlines() if ln.strip()]
    header = [int(v) for v in lines[0]]
    folds, per_half = (header[0], header[1]) if len(header) == 2 else (1, header[0])
    rows = lines[1:]
    if len(rows) != folds * per_half * 2:
        raise ValueError(f"{pairs_file}: expected {folds * per_half * 2} pairs, found {len(rows)}")
    pairs = []
    for i, r in enumerate(rows):
        fold = i // (2 * per_half)
        if len(r) == 3:
            pairs.append(Pair(lfw_image(root, r[0], int(r[1])), lfw_image(root, r[0], int(r[2])), True, fold))
        elif len(r) == 4:
            pairs.append(Pair(lfw_image(root, r[0], int(r[1])), lfw_image(root, r[2], int(r[3])), False, fold))
        else:
            raise ValueError(f"{pairs_file}: line {i + 2} has {len(r)} fields")
    return pairs


def pair_identities(pairs: list[Pair]) -> set[str]:
    """Every identity that appears in a pairs list (to keep training identity-disjoint)."""
    return {p.a.parent.name for p in pairs} | {p.b.parent.name for p in pairs}


def identity_folders(root: str | Path, min_images: int = 1) -> dict[str, list[Path]]:
    """``{identity: [image paths]}`` for a folder-per-identity dataset (LFW layout)."""
    out = {}
    for d in sorted(Path(root).iterdir()):
        if d.is_dir():
            files = sorted(p for p in d.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if len(files) >= min_images:
                out[d.name] = files
    return out
