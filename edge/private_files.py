"""Writing files that hold faces or state. Five promises, kept in one place for every writer (the
status file, snapshots, annotated pictures, photos copied into the gallery):

- a crash at any moment leaves the old file or the new one, never half of one (a temporary file in
  the same folder, then a rename);
- a symlink planted at the temporary or final name is never written through (``O_NOFOLLOW`` and
  ``O_EXCL`` on the temporary file; a copy claims its name with ``O_EXCL`` before it lands there, so
  it never replaces a file);
- the mode is the one asked for, whatever the umask: face pictures are biometric data, readable by
  the owner and, where the folder grants it, its group — never by everyone;
- a picture written where a user chose (``identify --out``, ``camera-test --out``) replaces only a
  picture this software wrote there before (it carries a mark); a user's own file of the same name
  is left as it is and the picture takes the next free name (:func:`picture_name`);
- what the software deletes of its own (a snapshot forgotten, a damaged cache) is overwritten
  first (:func:`erase`). The user's photos are never erased: only ever unlinked, on request.

Imports nothing of the project (the base layer)."""

from __future__ import annotations

import errno
import os
import shutil
import stat
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
# opening a file that is already there: no link followed, no pipe waited on
_EXISTING = getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


def _temporary(path: Path, mode: int) -> tuple[Path, int]:
    """A fresh temporary file beside ``path`` (``.NAME.part``, the name the gallery skips), opened for
    writing with ``mode``. A leftover of a crashed write is removed first (only ever that name)."""
    tmp = path.with_name(f".{path.name}.part")
    try:
        fd = os.open(tmp, _CREATE, mode)
    except FileExistsError:
        tmp.unlink()  # a leftover, or a planted link: removing the link never touches its target
        fd = os.open(tmp, _CREATE, mode)
    os.fchmod(fd, mode)  # the umask narrowed it; the group may need to read (snapshots, gallery)
    return tmp, fd


def write_atomically(path: Path, data: bytes, mode: int) -> None:
    """Replace ``path`` with ``data`` (mode ``mode``) in one rename."""
    tmp, fd = _temporary(path, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# Every picture written by :func:`write_picture` carries this, so that a later run can tell its own
# output (replaced when written again) from a user's file that happens to have the same name (never
# touched): a JPEG comment right after the JFIF header, a PNG ``tEXt`` chunk right after ``IHDR``.
_MARK = b"written by siamese-edge"
_PNG_MARK = b"tEXt" + b"Software\x00" + _MARK
_PNG_CHUNK = struct.pack(">I", len(_PNG_MARK) - 4) + _PNG_MARK + struct.pack(">I", zlib.crc32(_PNG_MARK))
_JPEG_COMMENT = b"\xff\xfe" + struct.pack(">H", len(_MARK) + 2) + _MARK


def _mark_place(head: bytes) -> tuple[int, bytes]:
    """Where in an encoded picture beginning with ``head`` the mark goes, and its bytes there: after
    a PNG's signature (8 bytes) and ``IHDR`` (25), after a JPEG's JFIF header. (0, b"") when ``head``
    is neither (no picture of ours)."""
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return 33, _PNG_CHUNK
    if head[:2] == b"\xff\xd8":
        return (4 + int.from_bytes(head[4:6], "big") if head[2:4] == b"\xff\xe0" else 2), _JPEG_COMMENT
    return 0, b""


def _marked(data: bytes) -> bytes:
    """An encoded JPEG or PNG with the mark where :func:`own_picture` looks for it."""
    at, mark = _mark_place(data)
    return data[:at] + mark + data[at:]


def read_regular(path: Path, size: int, max_size: int | None = None) -> bytes:
    """The first ``size`` bytes of ``path``, a regular file (of at most ``max_size`` bytes when
    given); ``OSError`` for anything else, read without following a link or waiting on a pipe, so
    a file planted at a name the software reads can neither redirect it nor hold it up."""
    fd = os.open(path, os.O_RDONLY | _EXISTING)
    try:  # checked on the descriptor, before anything is read (a folder opens too)
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or (max_size is not None and info.st_size > max_size):
            raise OSError(f"{path}: not a regular file" + (f" of at most {max_size} bytes" if max_size else ""))
        chunks = []
        while size > 0 and (chunk := os.read(fd, size)):
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def own_picture(path: Path) -> bool:
    """Whether ``path`` is a regular file this software wrote with :func:`write_picture` (its mark
    where that puts it). A link, a folder, a user's photo, or a picture of ours re-saved by an editor
    (which moves or drops the mark) is not."""
    try:
        head = read_regular(path, 512)
    except OSError:
        return False
    at, mark = _mark_place(head)
    return bool(mark) and head[at:at + len(mark)] == mark


def _someone_elses(path: Path) -> bool:
    """Something is at ``path`` (a link counts) and it is not a picture of ours."""
    return os.path.lexists(path) and not own_picture(path)


def picture_name(path: Path, taken: set[Path] | None = None) -> tuple[Path, Path | None]:
    """Where :func:`write_picture` may put a picture meant for ``path``: ``path`` itself, or
    ``STEM-2``, ``STEM-3``… — the first name that is free or holds a picture this software wrote,
    and is not in ``taken`` (names this run already wrote; the one returned is added). Also the first
    name passed over because something else is there (a user's photo, a link, a folder), so the
    caller can say it was left alone; ``OSError`` when a thousand names are all taken."""
    taken = set() if taken is None else taken
    foreign = None
    for n in range(1, 1001):
        candidate = path if n == 1 else path.with_name(f"{path.stem}-{n}{path.suffix}")
        if candidate in taken:
            continue
        if _someone_elses(candidate):
            foreign = foreign or candidate
            continue
        taken.add(candidate)
        return candidate, foreign
    raise OSError(f"{path.stem}-2 … {path.stem}-1000{path.suffix} are all taken by files this software did not write")


def write_picture(path: Path, image_bgr: np.ndarray, mode: int) -> None:
    """``image_bgr`` as a PNG (for a ``.png`` name) or a JPEG (quality 90), marked as ours and written
    like any face picture here (:func:`write_atomically`). It replaces only a picture of ours: a file
    of anyone else's at ``path`` (choose the name with :func:`picture_name`) raises
    ``FileExistsError`` untouched, as any failure to encode or write raises ``OSError``."""
    kind = ".png" if path.suffix.lower() == ".png" else ".jpg"
    ok, data = cv2.imencode(kind, image_bgr, [cv2.IMWRITE_JPEG_QUALITY, 90] if kind == ".jpg" else [])
    if not ok:
        raise OSError(f"the picture could not be encoded as {kind[1:].upper()}")
    if _someone_elses(path):
        raise FileExistsError(errno.EEXIST, "a file siamese-edge did not write is there; left as it is")
    write_atomically(path, _marked(data.tobytes()), mode)


def copy_new(src: Path, dest: Path, mode: int) -> Path:
    """Copy ``src`` to ``dest`` — or, when that name is taken, to ``STEM-1``, ``STEM-2``… — never
    replacing anything; returns the name it got. The copy is complete before it takes the name (a
    watcher never reads half a photo): the name is first claimed with an exclusive create, then the
    finished copy is renamed onto that claim. (A hard link would do it in one step, but FAT and exFAT
    — USB sticks — have none.)"""
    tmp, fd = _temporary(dest, mode)
    try:
        with os.fdopen(fd, "wb") as f, open(src, "rb") as source:
            shutil.copyfileobj(source, f)
        n = 0
        while True:
            target = dest if n == 0 else dest.with_name(f"{dest.stem}-{n}{dest.suffix}")
            try:
                os.close(os.open(target, _CREATE, mode))
            except FileExistsError:  # a photo, or a planted link: neither is touched
                n += 1
                continue
            try:
                os.replace(tmp, target)
            except BaseException:
                target.unlink(missing_ok=True)  # the empty claim: no 0-byte "photo" is left behind
                raise
            return target
    finally:
        tmp.unlink(missing_ok=True)


def make_folder(path: Path, mode: int) -> None:
    """Create ``path`` and any missing parents, each with exactly ``mode``; folders that exist keep
    theirs (a folder of the user's own is theirs to set)."""
    missing = []
    p = path
    while not p.exists() and not p.is_symlink():
        missing.append(p)
        p = p.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=mode)
        except FileExistsError:
            continue  # made meanwhile by another process: it keeps its mode
        os.chmod(folder, mode)


def modes_inside(folder: Path) -> tuple[int, int]:
    """(folder mode, file mode) for what is created inside ``folder``: everything for the owner, what
    ``folder`` grants its group (read, and write for folders — the installed gallery lets everyone
    in its group enrol — with its set-group-ID bit), nothing for others."""
    st_mode = folder.stat().st_mode
    group = st_mode & 0o070
    folder_mode = 0o700 | group | (st_mode & stat.S_ISGID)
    file_mode = 0o600 | (group & 0o040)
    return folder_mode, file_mode


def erase(path: Path) -> None:
    """Remove a file this software wrote, overwriting it with zeros first, so the faces or embeddings
    in it do not linger in the freed blocks of a plain filesystem (best effort: a flash card's
    controller may keep old copies). A missing file is fine.

    Only a file whose sole name this is gets overwritten: with a second hard link (a snapshot a user
    linked into the gallery) the content is someone else's too, and only this name goes. A symbolic
    link is removed, never followed. Anything else (a folder, a pipe) raises ``OSError`` untouched,
    as does a name that cannot be removed; failing to overwrite does not stop the removal."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return
    if not (stat.S_ISREG(info.st_mode) or stat.S_ISLNK(info.st_mode)):
        raise OSError(f"{path}: not a regular file, left alone")
    if stat.S_ISREG(info.st_mode) and info.st_nlink == 1:
        try:
            _overwrite(path)
        except OSError:
            pass  # read-only, or swapped for something else meanwhile: removing it is what matters
    path.unlink(missing_ok=True)


def _overwrite(path: Path) -> None:
    fd = os.open(path, os.O_WRONLY | _EXISTING)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
            return
        zeros = bytes(1 << 16)
        done = 0
        while done < info.st_size:
            done += os.write(fd, zeros[:min(len(zeros), info.st_size - done)])
        os.fsync(fd)
    finally:
        os.close(fd)
