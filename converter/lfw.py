"""LFW protocol files and folder-per-identity datasets.

``pairs.txt`` (View 2): a header ``10 300`` then, per fold, 300 matched lines ``name i j`` and 300
mismatched lines ``name1 i name2 j``. ``pairsDevTrain.txt`` / ``pairsDevTest.txt`` (View 1): a
header ``N`` then N matched and N mismatched lines. Images are ``<root>/<name>/<name>_<iiii>.jpg``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edge.errors import ConfigError, DataFileError
from gallery.layout import check_person_name, scan


@dataclass(frozen=True)
class Pair:
    a: Path
    b: Path
    same: bool
    fold: int


def lfw_image(root: Path, name: str, index: int) -> Path:
    return root / name / f"{name}_{index:04d}.jpg"


def read_pairs(pairs_file: str | Path, images: str | Path) -> list[Pair]:
    """Parse a View 1 or View 2 pairs file into :class:`Pair` rows with their fold number.

    A file that is not one (a wrong path given, a truncated download) is a :class:`DataFileError`
    naming the file and line; names that would leave ``images`` (``..``, ``/``) are refused, so a
    crafted list cannot make an evaluation read files elsewhere."""
    root = Path(images)
    try:
        text = Path(pairs_file).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise DataFileError(f"{pairs_file}: not an LFW pairs file (not text)") from None
    lines = [(n, ln.split()) for n, ln in enumerate(text.splitlines(), 1) if ln.strip()]
    if not lines or not 1 <= len(lines[0][1]) <= 2 or not all(_count(v) for v in lines[0][1]):
        raise DataFileError(f"{pairs_file}: not an LFW pairs file (the first line must be 'N' or "
                            f"'FOLDS N', e.g. '10 300')")
    header = [int(v) for v in lines[0][1]]
    folds, per_half = (header[0], header[1]) if len(header) == 2 else (1, header[0])
    rows = lines[1:]
    if len(rows) != folds * per_half * 2:
        raise DataFileError(f"{pairs_file}: expected {folds * per_half * 2} pairs, found {len(rows)}")
    pairs = []
    for i, (n, r) in enumerate(rows):
        names, numbers = (r[:1], r[1:]) if len(r) == 3 else (r[0::2], r[1::2])
        if len(r) not in (3, 4) or not all(map(_folder_name, names)) or not all(map(_number, numbers)):
            raise DataFileError(f"{pairs_file}: line {n} is not 'name i j' or 'name1 i name2 j' "
                                f"(names are folders directly inside the images folder)")
        a, b = (names[0], names[0]) if len(r) == 3 else names
        pairs.append(Pair(lfw_image(root, a, int(numbers[0])), lfw_image(root, b, int(numbers[1])), len(r) == 3,
                          i // (2 * per_half)))
    return pairs


def _number(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _count(text: str) -> bool:
    return _number(text) and int(text) > 0


def _folder_name(name: str) -> bool:
    """A name that denotes a folder directly inside the images folder: the gallery's own rule for a
    person's name (:func:`gallery.layout.check_person_name`: no separator, not ``.``/``..``/hidden)."""
    try:
        return check_person_name(name) == name
    except ConfigError:
        return False


def people_folder(root: str | Path) -> Path:
    """``root`` as a folder of people (one folder each), or a :class:`DataFileError` saying what it is not."""
    root = Path(root)
    if not root.exists():
        raise DataFileError(f"{root}: no such folder (one folder per person expected)")
    if not root.is_dir():
        raise DataFileError(f"{root}: not a folder (one folder per person expected)")
    return root


def pair_identities(pairs: list[Pair]) -> set[str]:
    """Every identity that appears in a pairs list (to keep training identity-disjoint)."""
    return {p.a.parent.name for p in pairs} | {p.b.parent.name for p in pairs}


def identity_folders(root: str | Path, min_images: int = 1) -> dict[str, list[Path]]:
    """``{identity: [image paths]}`` for a folder-per-identity dataset (LFW layout), read as a gallery
    is (:func:`gallery.layout.scan`: links leaving the folder are not followed); identities with
    fewer than ``min_images`` photos are left out."""
    root = people_folder(root)
    out: dict[str, list[Path]] = {}
    for f in scan(root)[0]:
        if f.path.parent != root:  # a person's folder, not the seed's flat <Name>.jpg
            out.setdefault(f.path.parent.name, []).append(f.path)
    return {name: files for name, files in out.items() if len(files) >= min_images}
