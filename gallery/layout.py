"""Which files in a gallery folder are photos of whom.

Layouts: ``<gallery>/<Person Name>/*.{jpg,jpeg,png,webp}`` (several photos per person) and the
seed's flat ``<gallery>/<Person Name>.jpg``. Hidden files, editor temp files and partial downloads
are ignored; symlinks that leave the gallery and folders nested deeper than one level are reported
and skipped, never followed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from edge.imageio import IMAGE_SUFFIXES

GALLERY_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
TEMP_SUFFIXES = (".part", ".crdownload", ".tmp", ".swp", ".download")


@dataclass(frozen=True)
class GalleryFile:
    person: str
    path: Path


@dataclass(frozen=True)
class Skipped:
    path: Path
    reason: str


def is_ignored(name: str) -> bool:
    """Hidden files, editor temp files, partial downloads, and ``_``-prefixed entries (so the
    repository's own ``gallery/`` package folder can double as the default enrollment folder)."""
    return (name.startswith((".", "~", "_")) or name.endswith("~") or name.lower().endswith(TEMP_SUFFIXES)
            or name.endswith((".py", ".pyc")))


def _display_name(raw: str) -> str:
    return raw.strip()


def scan(gallery: str | Path) -> tuple[list[GalleryFile], list[Skipped]]:
    """List gallery photos (sorted) and the entries skipped with a reason."""
    root = Path(gallery)
    files: list[GalleryFile] = []
    skipped: list[Skipped] = []
    real_root = root.resolve()
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError as exc:
        raise FileNotFoundError(f"gallery folder {root} cannot be read: {exc.strerror}") from None
    for entry in entries:
        if is_ignored(entry.name):
            continue
        path = Path(entry.path)
        if not _name_ok(entry.name):
            skipped.append(Skipped(path, "file name is not valid UTF-8"))
            continue
        if entry.is_symlink() and not _inside(path, real_root):
            skipped.append(Skipped(path, "symlink points outside the gallery (not followed)"))
            continue
        if entry.is_dir(follow_symlinks=False):
            _scan_person(path, real_root, files, skipped)
        elif entry.is_file() and path.suffix.lower() in GALLERY_SUFFIXES:
            files.append(GalleryFile(_display_name(path.stem), path))
        elif entry.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
            skipped.append(Skipped(path, f"{path.suffix} is not a gallery format (use jpg, png or webp)"))
    return files, skipped


def _scan_person(folder: Path, real_root: Path, files: list[GalleryFile], skipped: list[Skipped]) -> None:
    person = _display_name(folder.name)
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        path = Path(entry.path)
        if is_ignored(entry.name):
            continue
        if not _name_ok(entry.name):
            skipped.append(Skipped(path, "file name is not valid UTF-8"))
        elif entry.is_symlink() and not _inside(path, real_root):
            skipped.append(Skipped(path, "symlink points outside the gallery (not followed)"))
        elif entry.is_dir(follow_symlinks=False):
            skipped.append(Skipped(path, "folders nested deeper than one level are ignored"))
        elif entry.is_file() and path.suffix.lower() in GALLERY_SUFFIXES:
            files.append(GalleryFile(person, path))
        elif entry.is_file():
            skipped.append(Skipped(path, f"not an image file ({path.suffix or 'no extension'})"))


def _name_ok(name: str) -> bool:
    try:
        name.encode("utf-8")
        return True
    except UnicodeEncodeError:  # surrogate-escaped bytes from a non-UTF-8 file name
        return False


def _inside(path: Path, real_root: Path) -> bool:
    try:
        path.resolve().relative_to(real_root)
        return True
    except (ValueError, OSError):
        return False
