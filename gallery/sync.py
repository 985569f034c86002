"""Turn the gallery folder into a matcher: scan, hash, reuse cached results, enroll the rest.

Reading is the only thing done to the user's photos: never written, moved or deleted.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from edge.errors import ImageError, SiameseEdgeError
from edge.vision.imageio import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, decode_photo, read_bytes_limited
from edge.vision.matcher import Matcher
from edge.vision.pipeline import Recognizer
from edge.vision.runtime import trim_heap
from gallery.layout import scan
from gallery.lookalikes import MAX_ROWS as LOOKALIKE_MAX_ROWS
from gallery.lookalikes import lookalikes
from gallery.outliers import unlike_their_others
from gallery.quality import QualityPolicy, choose_face
from gallery.store import Result, Store

log = logging.getLogger(__name__)

# enrolment decodes a larger JPEG at the libjpeg scale (1/2, 1/4, 1/8) that fits this: a portrait's
# face stays hundreds of pixels wide, and a 39-megapixel photo costs a tenth of the memory
ENROLL_DECODE_PIXELS = 8_000_000


class SyncInterrupted(SiameseEdgeError):
    """The sync was asked to stop (the daemon is shutting down) before it finished."""


@dataclass(frozen=True)
class FileStatus:
    person: str | None
    path: str
    state: str  # "enrolled", "rejected" or "pending"
    reason: str = ""
    warning: str = ""


@dataclass
class SyncReport:
    files: list[FileStatus] = field(default_factory=list)
    embedded: int = 0  # photos processed in this sync (cache misses)

    def people(self) -> dict[str, dict]:
        """Per-person summary: usable photos, rejected photos with reasons, a warning for one photo."""
        out: dict[str, dict] = {}
        for f in self.files:
            if f.person is None:
                continue
            p = out.setdefault(f.person, {"enrolled": 0, "rejected": [], "warnings": []})
            if f.state == "enrolled":
                p["enrolled"] += 1
            elif f.state == "rejected":
                p["rejected"].append({"file": f.path, "reason": f.reason})
            if f.warning:
                p["warnings"].append(f"{Path(f.path).name}: {f.warning}")
        for p in out.values():
            if p["enrolled"] == 1:
                p["warnings"].append("only one usable photo: add two or three more for reliable recognition")
            elif p["enrolled"] == 0:
                p["warnings"].append("no usable photo: this person cannot be recognised yet")
        return out


def _add_warning(report: SyncReport, k: int, warning: str) -> None:
    """One more warning on ``report.files[k]`` (a file may have several: false colour, an outlier…)."""
    old = report.files[k].warning
    report.files[k] = replace(report.files[k], warning=f"{old}; {warning}" if old else warning)


class Gallery:
    """A gallery folder bound to a recognizer and a cache; :meth:`sync` returns a fresh matcher."""

    def __init__(self, recognizer: Recognizer, folder: str | Path, state_dir: str | Path | None = None,
                 policy: QualityPolicy | None = None, max_pixels: int = DEFAULT_MAX_PIXELS,
                 worker_factory: Callable[[], Recognizer] | None = None, max_bytes: int = DEFAULT_MAX_BYTES,
                 cancel: threading.Event | None = None) -> None:
        """``recognizer`` supplies the model id, card and decision rule (plain data, safe from any
        thread). Photos are detected and embedded with ``recognizer`` itself, or, when
        ``worker_factory`` is given (the daemon, whose loop owns ``recognizer``'s interpreters), with
        a private recognizer built for the first photo that needs embedding and released when the
        sync ends — TFLite interpreters must not be shared between threads, and a second set kept
        for the rare enrollment would cost the device memory for nothing. ``cancel`` (the daemon's
        stop event) ends a long sync between two photos with :class:`SyncInterrupted`."""
        self.recognizer = recognizer
        self.worker_factory = worker_factory
        self._worker: Recognizer | None = None
        self.folder = Path(folder)
        self.store = Store(state_dir)
        self.policy = policy or QualityPolicy()
        self.max_pixels = max_pixels
        self.max_bytes = max_bytes
        self.cancel = cancel or threading.Event()
        self.last_report = SyncReport()
        self._said_too_big = False  # the look-alike check's limit, said once

    def sync(self, progress: bool = False) -> tuple[Matcher, SyncReport]:
        """Bring the cache up to date with the folder and build a matcher from it."""
        files, skipped = scan(self.folder)
        self.store.refresh()
        report = SyncReport([FileStatus(None, str(s.path), "rejected", s.reason) for s in skipped])
        names: list[str] = []
        embeddings: list[np.ndarray] = []
        enrolled_at: list[int] = []  # each embedding's row in report.files
        model_id = self.cache_key()
        try:
            for gf in tqdm(files, desc="enrolling", unit="photo", disable=not progress, leave=False):
                if self.cancel.is_set():
                    raise SyncInterrupted(f"gallery sync stopped after {len(report.files) - len(skipped)} of "
                                          f"{len(files)} photos")
                status, emb = self._one(gf.person, gf.path, model_id, report)
                report.files.append(status)
                if emb is not None:
                    names.append(gf.person)
                    embeddings.append(emb)
                    enrolled_at.append(len(report.files) - 1)
        finally:
            if self._worker is not None:
                self._worker = None  # frees the private interpreters …
                gc.collect()
                trim_heap()  # … and gives their memory back to the OS
        self.store.forget_missing({str(f.path) for f in files})
        dim = self.recognizer.embedder.card.embedding_size
        matrix = np.stack(embeddings) if embeddings else np.zeros((0, dim), np.float32)
        self._name_outliers(report, names, matrix, enrolled_at)
        matcher = self.recognizer.make_matcher(names, matrix)
        if len(names) <= LOOKALIKE_MAX_ROWS:
            for found in lookalikes(matcher):
                _add_warning(report, enrolled_at[found.row], found.warning())
        elif not self._said_too_big:
            self._said_too_big = True
            log.info("%d photos enrolled: look-alikes between people are not checked above %d",
                     len(names), LOOKALIKE_MAX_ROWS)
        self.last_report = report
        return matcher, report

    def _name_outliers(self, report: SyncReport, names: list[str], matrix: np.ndarray,
                       enrolled_at: list[int]) -> None:
        """Warn on each photo the model judges to be somebody else than the person's other photos
        (computed at every sync: it depends on the other photos, so it is never cached)."""
        card = self.recognizer.embedder.card
        if not card.head_weights:
            return
        for i, (median, others) in unlike_their_others(names, matrix, card.head_weights, card.head_bias).items():
            k = enrolled_at[i]
            _add_warning(report, k, f"looks unlike {names[i]}'s other {others} photos (the model's same-person "
                                    f"probability against them: median {median:.2f}): is it someone else?")

    def cache_key(self) -> str:
        """The model and every setting that decides a photo's verdict (quality gates, pixel limit,
        detector and its score bar): a cached result is reused only under the same ones, so a
        lowered ``gallery.min_face_px`` applies, at the next sync, to photos it rejected before."""
        detector = self.recognizer.preprocessor.detector
        settings = {"policy": asdict(self.policy), "max_pixels": self.max_pixels,
                    "detector": detector.model_name, "min_score": detector.score_threshold}
        digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
        return f"{self.recognizer.embedder.id}|{digest}"

    def _one(self, person: str, path: Path, model_id: str, report: SyncReport) -> tuple[FileStatus, np.ndarray | None]:
        def rejected(reason: str) -> tuple[FileStatus, None]:
            return FileStatus(person, str(path), "rejected", reason), None

        try:
            st = path.stat()
        except OSError as exc:
            return rejected(f"cannot be read ({exc.strerror or exc})")
        if st.st_size > self.max_bytes:  # refused from its size alone: never read, never hashed
            return rejected(f"file is {st.st_size / 2**20:.1f} MB, above the limit of "
                            f"{self.max_bytes / 2**20:.0f} MB (gallery.max_file_mb)")
        try:
            sha = self.store.cached_hash(path, st.st_size, st.st_mtime_ns)
            data = None
            if sha is None:
                data = read_bytes_limited(path, self.max_bytes)
                sha = hashlib.sha256(data).hexdigest()
                self.store.remember_hash(path, st.st_size, st.st_mtime_ns, sha)
            result = self.store.get(sha, model_id, self.recognizer.embedder.card.embedding_size)
            if result is None and data is None:
                data = read_bytes_limited(path, self.max_bytes)
        except ImageError as exc:
            return rejected(str(exc).removeprefix(f"{path}: "))
        if result is None:
            assert data is not None
            if report.embedded == 0:
                log.info("enrolling new or changed photos in %s", self.folder)
            result = self.enroll_bytes(data, str(path))
            self.store.put(sha, model_id, result)
            report.embedded += 1
        return FileStatus(person, str(path), result.state, result.reason, result.warning), result.embedding

    def enroll_bytes(self, data: bytes, name: str) -> Result:
        """Decode → detect → quality gates → align → embed one photo."""
        try:
            image, note = decode_photo(data, name, self.max_pixels, decode_pixels=ENROLL_DECODE_PIXELS)
        except ImageError as exc:
            return Result("rejected", str(exc).removeprefix(f"{name}: "), "", None)
        worker = self._embedding_recognizer()
        # enrollment photos are portraits: no tiling (it only adds candidates for the "several faces" gate)
        faces = worker.preprocessor.faces(image, tile=0)
        face, reason, warning = choose_face(image, faces, self.policy)
        warning = "; ".join(w for w in (note, warning) if w)
        if face is None:
            return Result("rejected", reason, warning, None)
        emb = worker.embedder.embed(face.crop[None])[0]
        return Result("enrolled", "", warning, emb)

    def _embedding_recognizer(self) -> Recognizer:
        if self.worker_factory is None:
            return self.recognizer
        if self._worker is None:
            self._worker = self.worker_factory()
        return self._worker

    def close(self) -> None:
        self._worker = None
        self.store.close()
