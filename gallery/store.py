"""Crash-safe cache of enrollment results in SQLite (WAL mode).

Keyed by the photo's content hash **and** the model id: an unchanged photo is never re-embedded,
and a new model re-embeds everything because nothing matches its id. Each result is written in one
transaction, so a process killed at any moment leaves either the old row or the new one — never a
half-written embedding.

The cache holds only derived data, never the user's photos, so every failure of it is survivable:
a database that fails its integrity check (or reports corruption later) is erased and rebuilt from
the photos — not kept aside, because it holds face embeddings, some perhaps of people removed from
the gallery since, and nothing would ever clean it up; a row whose embedding has the wrong size is recomputed; a
full disk (or a read-only state folder) turns the cache off with one warning — enrolment goes on
in memory — and writes resume, with one line saying so, as soon as they succeed again.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from edge.private_files import erase, make_folder

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    sha256 TEXT NOT NULL, model_id TEXT NOT NULL, state TEXT NOT NULL, reason TEXT NOT NULL,
    warning TEXT NOT NULL, embedding BLOB, PRIMARY KEY (sha256, model_id));
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, sha256 TEXT NOT NULL);
"""

CORRUPT = ("SQLITE_CORRUPT", "SQLITE_NOTADB")
REOPEN_EVERY_S = 10.0  # while the cache file cannot be used, how often to try it again

T = TypeVar("T")


@dataclass(frozen=True)
class Result:
    state: str  # "enrolled" or "rejected"
    reason: str
    warning: str
    embedding: np.ndarray | None


def _is_corruption(exc: sqlite3.DatabaseError) -> bool:
    name = getattr(exc, "sqlite_errorname", "") or ""
    return name.startswith(CORRUPT) or "malformed" in str(exc) or "not a database" in str(exc)


class Store:
    """The cache database under the state directory (0700 directory, 0600 files)."""

    def __init__(self, state_dir: str | Path | None) -> None:
        self.path: Path | None = None
        self.degraded = False  # True while the cache lives in memory because the file cannot be written
        self._last_try = 0.0
        if state_dir is not None:
            d = Path(state_dir)
            make_folder(d, 0o700)  # a folder of the user's own keeps its mode: the database itself is 0600
            self.path = d / "gallery.sqlite3"
            self._erase(d / "gallery.sqlite3.corrupt")  # a damaged cache earlier versions kept aside
        self.db = self._connect()

    # ------------------------------------------------------------------ opening

    def _connect(self) -> sqlite3.Connection:
        """The file database (checked, rebuilt if damaged), or an in-memory one when it cannot be written."""
        if self.path is None:
            return self._memory()
        self._last_try = time.monotonic()
        try:
            db = self._open_checked(self.path)
        except sqlite3.DatabaseError as exc:
            if not _is_corruption(exc):
                return self._degrade(exc)
            self._erase_damaged(exc)
            try:
                db = self._open_checked(self.path)
            except sqlite3.DatabaseError as again:
                return self._degrade(again)
        if self.degraded:
            log.warning("gallery cache %s is writable again", self.path)
        self.degraded = False
        return db

    @staticmethod
    def _open_checked(path: Path) -> sqlite3.Connection:
        old_umask = os.umask(0o077)
        db = None
        try:
            db = sqlite3.connect(path, check_same_thread=False, timeout=10)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA secure_delete=ON")  # a forgotten embedding is overwritten, not just unlinked
            db.execute("PRAGMA synchronous=NORMAL")
            verdict = [row[0] for row in db.execute("PRAGMA quick_check")]
            if verdict != ["ok"]:
                raise sqlite3.DatabaseError(f"database disk image is malformed ({'; '.join(verdict[:3])})")
            db.executescript(SCHEMA)
            return db
        except sqlite3.DatabaseError:
            if db is not None:
                db.close()
            raise
        finally:
            os.umask(old_umask)

    def _memory(self) -> sqlite3.Connection:
        db = sqlite3.connect(":memory:", check_same_thread=False)
        db.executescript(SCHEMA)
        return db

    def _degrade(self, exc: Exception) -> sqlite3.Connection:
        if not self.degraded:
            log.warning("gallery cache %s cannot be written (%s): enrolling without a cache until it can",
                        self.path, exc)
        self.degraded = True
        return self._memory()

    def _erase_damaged(self, exc: Exception) -> None:
        """Erase a damaged database (and its WAL and shared memory) so it can be rebuilt."""
        assert self.path is not None
        log.warning("gallery cache %s is damaged (%s): erased and rebuilt from the photos", self.path, exc)
        for suffix in ("", "-wal", "-shm"):
            self._erase(Path(str(self.path) + suffix))

    @staticmethod
    def _erase(path: Path) -> None:
        try:
            erase(path)
        except OSError as exc:
            log.warning("could not remove %s: %s", path, exc)

    def refresh(self) -> None:
        """At each sync: while degraded, try the file again (space may have come back)."""
        if self.degraded and time.monotonic() - self._last_try >= REOPEN_EVERY_S:
            self.db.close()
            self.db = self._connect()

    # ------------------------------------------------------------------ guarded access

    def _guard(self, op: Callable[[], T], fallback: T) -> T:
        """Run one database operation; survive corruption (rebuild, retry once) and full disks."""
        for attempt in (1, 2):
            try:
                return op()
            except sqlite3.DatabaseError as exc:
                if _is_corruption(exc) and self.path is not None and not self.degraded and attempt == 1:
                    self.db.close()
                    self._erase_damaged(exc)
                    self.db = self._connect()
                    continue
                if not self.degraded:
                    # full disk, read-only folder, I/O error: keep going in memory, say so once
                    self.db.close()
                    self.db = self._degrade(exc)
                    continue
                log.debug("gallery cache operation failed again: %s", exc)
                return fallback
        return fallback

    # ------------------------------------------------------------------ the cache

    def cached_hash(self, path: Path, size: int, mtime_ns: int) -> str | None:
        def op() -> str | None:
            row = self.db.execute("SELECT size, mtime_ns, sha256 FROM files WHERE path=?", (str(path),)).fetchone()
            return row[2] if row and row[0] == size and row[1] == mtime_ns else None
        return self._guard(op, None)

    def remember_hash(self, path: Path, size: int, mtime_ns: int, sha: str) -> None:
        def op() -> None:
            with self.db:
                self.db.execute("INSERT OR REPLACE INTO files VALUES (?,?,?,?)", (str(path), size, mtime_ns, sha))
        self._guard(op, None)

    def forget_missing(self, present: set[str]) -> None:
        """Drop the rows of photos no longer in the gallery, and every result no remaining photo
        refers to: a face embedding is biometric data, and a person removed from the gallery must
        leave none behind. Deleted rows are overwritten on disk (``secure_delete``), and the WAL is
        folded back into the file at once, so no old page keeps them either."""
        def op() -> None:
            rows = [r[0] for r in self.db.execute("SELECT path FROM files")]
            gone = [(p,) for p in rows if p not in present]
            with self.db:
                if gone:
                    self.db.executemany("DELETE FROM files WHERE path=?", gone)
                dropped = self.db.execute("DELETE FROM results WHERE sha256 NOT IN (SELECT sha256 FROM files)").rowcount
            if dropped:
                self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._guard(op, None)

    def get(self, sha: str, model_id: str, dim: int | None = None) -> Result | None:
        """The cached result, or ``None`` to recompute (missing, or a row that cannot be trusted)."""
        def op() -> Result | None:
            row = self.db.execute("SELECT state, reason, warning, embedding FROM results "
                                  "WHERE sha256=? AND model_id=?", (sha, model_id)).fetchone()
            if row is None:
                return None
            state, reason, warning, blob = row
            if state not in ("enrolled", "rejected") or not all(isinstance(v, str) for v in (reason, warning)):
                return None
            if state == "rejected":
                return Result(state, reason, warning, None)
            if not isinstance(blob, bytes) or len(blob) % 4 or (dim is not None and len(blob) != 4 * dim):
                return None  # a damaged row: recompute it
            emb = np.frombuffer(blob, dtype=np.float32).copy()
            return Result(state, reason, warning, emb) if np.all(np.isfinite(emb)) else None
        return self._guard(op, None)

    def put(self, sha: str, model_id: str, result: Result) -> None:
        blob = None if result.embedding is None else np.asarray(result.embedding, np.float32).tobytes()

        def op() -> None:
            with self.db:
                self.db.execute("INSERT OR REPLACE INTO results VALUES (?,?,?,?,?,?)",
                                (sha, model_id, result.state, result.reason, result.warning, blob))
        self._guard(op, None)

    def close(self) -> None:
        self.db.close()
