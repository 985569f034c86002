"""False-colour photos back to grey: a greyscale picture saved through a matplotlib colormap.

Why: the seed project saved its face database with ``plt.imsave`` on greyscale crops, so every
pixel is an entry of matplotlib's default colormap (viridis since matplotlib 2.0, jet before).
Read as colour, those faces look like nobody. An image whose pixels all lie on one colormap's
256-entry table is mapped back to the entry index — the grey level it was — and then treated like
any greyscale photo. Ordinary photos are never touched: nearly every pixel must sit on the table
(``ON_TABLE``), and the image must use a wide stretch of it (``MIN_ENTRIES``).

The tables come from matplotlib's own data files, fetched by ``siamese-edge fetch-models`` with
the detector models (sha256-checked) and read as data, never executed. Without them nothing is
converted, and one log line says how to get them.
"""

from __future__ import annotations

import ast
import functools
import logging

import numpy as np

from edge.errors import ModelFileError
from edge.vision.assets import asset_path

log = logging.getLogger(__name__)

COLORMAPS = ("viridis", "jet")  # matplotlib's default colormap since 2.0, and before it
TOLERANCE = 2  # per channel: PNG round trips are exact; this absorbs a 16-bit or premultiplied save
ON_TABLE = 0.995  # share of pixels that must be (within TOLERANCE of) a table entry
MIN_ENTRIES = 32  # distinct table entries the image must use: a face spans many grey levels
SAMPLE = 4096  # pixels looked at before deciding whether to map the whole image


def _assigned(path, name: str):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise ModelFileError(f"{path}: {name} not found")


def _segments_lut(data: dict) -> np.ndarray:
    """A LinearSegmentedColormap's 256 entries (matplotlib's piecewise-linear interpolation)."""
    x = np.linspace(0.0, 1.0, 256)
    channels = []
    for colour in ("red", "green", "blue"):
        seg = np.asarray(data[colour], np.float64)
        channels.append(np.interp(x, seg[:, 0], seg[:, 2]))
    return np.stack(channels, axis=1)


@functools.cache
def tables() -> dict[str, np.ndarray]:
    """``{name: (256, 3) uint8 RGB}`` exactly as ``Colormap(..., bytes=True)`` writes pixels
    (``(value * 255)`` truncated); empty when the data files are not fetched."""
    try:
        listed = asset_path("matplotlib_cm_listed.py")
        segmented = asset_path("matplotlib_cm.py")
    except ModelFileError as exc:
        log.info("false-colour photos are read as they are: %s", exc)
        return {}
    float_luts = {"viridis": np.asarray(_assigned(listed, "_viridis_data"), np.float64),
                  "jet": _segments_lut(_assigned(segmented, "_jet_data"))}
    return {name: (np.clip(lut, 0.0, 1.0) * 255).astype(np.uint8) for name, lut in float_luts.items()}


def _nearest(pixels_rgb: np.ndarray, lut: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the nearest table entry for each pixel and its largest per-channel difference."""
    diff = np.abs(pixels_rgb[:, None, :].astype(np.int16) - lut[None, :, :].astype(np.int16)).max(axis=2)
    index = diff.argmin(axis=1)
    return index, diff[np.arange(len(index)), index]


def _keys(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.int32)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


@functools.cache
def _on_table(colormap: str) -> tuple[np.ndarray, np.ndarray]:
    """Every colour within ``TOLERANCE`` of a table entry (sorted 24-bit keys) and the entry it
    belongs to (the nearest; the middle of equal entries): membership is then a binary search,
    not a distance to all 256 entries per pixel."""
    lut = tables()[colormap].astype(np.int32)
    steps = np.arange(-TOLERANCE, TOLERANCE + 1)
    offsets = np.stack(np.meshgrid(steps, steps, steps, indexing="ij"), -1).reshape(-1, 3)
    near = np.clip(lut[:, None, :] + offsets[None], 0, 255).reshape(-1, 3)
    entry = np.repeat(np.arange(len(lut)), len(offsets))
    distance = np.abs(near - lut[entry]).max(axis=1)
    keys = _keys(near)
    order = np.lexsort((distance, keys))  # by key, the nearest entry first
    keys, entry = keys[order], entry[order]
    first = np.ones(len(keys), bool)
    first[1:] = keys[1:] != keys[:-1]
    return keys[first], _middle_of_equals(tables()[colormap])[entry[first]]


def _lookup(pixels_rgb: np.ndarray, colormap: str) -> tuple[np.ndarray, np.ndarray]:
    """(grey level, on the table?) for each pixel."""
    keys, grey = _on_table(colormap)
    k = _keys(pixels_rgb)
    at = np.minimum(np.searchsorted(keys, k), len(keys) - 1)
    on = keys[at] == k
    return grey[at], on


def colormap_of(image_bgr: np.ndarray) -> str | None:
    """The colormap an image was rendered through, or ``None`` for an ordinary photo."""
    pixels = image_bgr.reshape(-1, 3)[:, ::-1]
    if len(pixels) > SAMPLE:
        pixels = pixels[:: len(pixels) // SAMPLE]  # an even spread over the picture
    if (pixels.max(axis=1).astype(np.int16) - pixels.min(axis=1)).max() <= TOLERANCE:
        return None  # grey already
    for name in tables():
        grey, on = _lookup(pixels, name)
        if on.mean() >= ON_TABLE and len(np.unique(grey[on])) >= MIN_ENTRIES:
            return name
    return None


def _middle_of_equals(lut: np.ndarray) -> np.ndarray:
    """For each entry, the middle index of the entries with the same colour: truncating to 8 bits
    makes a few neighbouring entries equal (viridis: two pairs, jet: runs of up to four), and the
    middle one is the closest guess for any of them."""
    _, inverse = np.unique(lut, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    middle = np.array([np.flatnonzero(inverse == k).mean() for k in range(inverse.max() + 1)])
    return np.round(middle[inverse]).astype(np.uint8)


def to_grey(image_bgr: np.ndarray, colormap: str) -> np.ndarray:
    """Every pixel replaced by the grey level its colour stands for (3-channel BGR, uint8); the few
    pixels off the table (at most 1 - ``ON_TABLE``) take their nearest entry."""
    pixels = image_bgr.reshape(-1, 3)[:, ::-1]
    grey, on = _lookup(pixels, colormap)
    if not on.all():
        off = np.flatnonzero(~on)
        index, _ = _nearest(pixels[off], tables()[colormap])
        grey[off] = _middle_of_equals(tables()[colormap])[index]
    grey = grey.reshape(image_bgr.shape[:2])
    return np.repeat(grey[:, :, None], 3, axis=2)


def undo_false_colour(image_bgr: np.ndarray) -> tuple[np.ndarray, str | None]:
    """The image as grey levels if it is a false-colour rendering, else unchanged; and the colormap."""
    name = colormap_of(image_bgr)
    return (to_grey(image_bgr, name), name) if name else (image_bgr, None)
