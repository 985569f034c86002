"""Read user images safely: size checked from the header before decoding, every format normalised
to 8-bit BGR, and every failure turned into an :class:`ImageError` that names the file.

Why a header check: a 100-megapixel (or a crafted 60000×60000) file would take seconds and
gigabytes to decode on a Pi. The dimensions are read from the PNG/JPEG/WebP/BMP header first (for a
JPEG, every segment is walked up to the frame header, however much EXIF, ICC or comment data comes
before it) and the file is refused above ``max_pixels`` without decoding it. The file's size is
checked before it is read at all (``max_bytes``), and a large JPEG can be decoded at 1/2, 1/4 or
1/8 scale by libjpeg itself (``decode_pixels``): enrolment needs a face, not 40 megapixels.

HEIC (HEIF with HEVC: what an iPhone saves, and what its photos stay when shared as originals) is
read through pi-heif, pillow-heif's decode-only build (libheif and libde265, LGPL; no encoder, so
less code facing a crafted file): its container is parsed for the primary image's size without
decoding, and the picture comes out turned as the phone meant (libheif applies the file's rotation
and mirroring).
"""

from __future__ import annotations

import os
import stat
import struct
from pathlib import Path

import cv2
import numpy as np

from edge.errors import ImageError

DEFAULT_MAX_PIXELS = 40_000_000
DEFAULT_MAX_BYTES = 50 * 1024 * 1024  # larger than any camera JPEG; a 2 GB file is never read
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".heic", ".heif")
SUPPORTED = "JPEG, PNG, WebP, BMP or HEIC"
HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1"})
"""ISO base media ``ftyp`` brands of HEIF still images and sequences (AVIF's ``avif`` is not among them)."""


def image_size_from_header(data: bytes) -> tuple[str, int, int] | None:
    """Return ``(format, width, height)`` read from the header, or ``None`` if not a known image."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 26:
        w, h = struct.unpack(">II", data[16:24])
        return ("png16" if data[24] == 16 else "png"), w, h
    if data[:2] == b"\xff\xd8":
        return _jpeg_size(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) >= 30:
        chunk = data[12:16]
        if chunk == b"VP8X":
            w = 1 + int.from_bytes(data[24:27], "little")
            h = 1 + int.from_bytes(data[27:30], "little")
            return "webp", w, h
        if chunk == b"VP8 ":
            w, h = struct.unpack("<HH", data[26:30])
            return "webp", w & 0x3FFF, h & 0x3FFF
        if chunk == b"VP8L":
            b = int.from_bytes(data[21:25], "little")
            return "webp", (b & 0x3FFF) + 1, ((b >> 14) & 0x3FFF) + 1
    if data[:2] == b"BM" and len(data) >= 26:
        w, h = struct.unpack("<ii", data[18:26])
        return "bmp", abs(w), abs(h)
    return None


def is_heif(data: bytes) -> bool:
    """Whether ``data`` starts as a HEIF file: an ``ftyp`` box naming a HEIF brand (major, or among
    the compatible ones a phone lists after it)."""
    if data[4:8] != b"ftyp" or len(data) < 16:
        return False
    size = int.from_bytes(data[:4], "big")
    brands = [data[8:12]] + [data[i:i + 4] for i in range(16, min(size, len(data), 64), 4)]
    return any(b in HEIF_BRANDS for b in brands)


def _decode_heif(data: bytes, name: str, max_pixels: int) -> np.ndarray:
    """A HEIC photo's primary image as 8-bit BGR, rotated and mirrored as its file says: the
    container parsed once, its size checked against ``max_pixels`` before anything is decoded."""
    try:
        import pi_heif
    except ImportError:
        raise ImageError(f"{name}: a HEIC photo, and pi-heif (which reads them) is not installed: "
                         "pip install pi-heif, or save the photo as JPEG") from None
    errors = (ValueError, RuntimeError, OSError, SyntaxError)  # what libheif's complaints arrive as
    try:
        heif = pi_heif.open_heif(data, convert_hdr_to_8bit=True)
    except errors:
        raise ImageError(f"{name}: HEIC data is corrupt or truncated (its container cannot be read)") from None
    _refuse_above(name, *heif.size, max_pixels)
    try:
        rgb = np.asarray(heif)
    except errors:
        raise ImageError(f"{name}: HEIC data is corrupt or truncated and could not be decoded") from None
    if rgb.ndim == 3:  # RGB or RGBA (a monochrome HEIF comes as one channel, grey as it is)
        rgb = cv2.cvtColor(rgb, cv2.COLOR_RGBA2BGR if rgb.shape[2] == 4 else cv2.COLOR_RGB2BGR)
    return to_bgr8(rgb)


def _refuse_above(name: str, w: int, h: int, max_pixels: int, weight: int = 1) -> None:
    """:class:`ImageError` when a ``w``×``h`` image (``weight`` 2: 16 bits per sample) is above
    ``max_pixels``, known from its header before it is decoded."""
    if w * h * weight > max_pixels:
        depth = " at 16 bits per sample" if weight == 2 else ""
        raise ImageError(
            f"{name}: image is {w}×{h} = {w * h / 1e6:.1f} megapixels{depth}, above the limit of "
            f"{max_pixels / 1e6:.3g} megapixels (refused without decoding)"
        )


def _jpeg_size(data: bytes) -> tuple[str, int, int] | None:
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
            i += 1 if marker == 0xFF else 2
            continue
        length = int.from_bytes(data[i + 2:i + 4], "big")
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            h, w = struct.unpack(">HH", data[i + 5:i + 9])
            return "jpeg", w, h
        if length < 2:
            return None  # a segment that cannot be walked past: not a JPEG libjpeg would decode
        i += 2 + length
    return None  # no frame header before the end: truncated or crafted


def to_bgr8(image: np.ndarray) -> np.ndarray:
    """Normalise a decoded array (gray, BGRA, 16-bit, float) to contiguous 8-bit 3-channel BGR."""
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        image = np.clip(image * (255.0 if image.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    elif image.shape[2] == 1:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    return np.ascontiguousarray(image)


def _reduction(w: int, h: int, decode_pixels: int | None) -> int:
    """The smallest libjpeg scale-down (1, 2, 4, 8) that brings ``w×h`` within ``decode_pixels``."""
    if decode_pixels is None:
        return 1
    for factor in (1, 2, 4, 8):
        if (w // factor) * (h // factor) <= decode_pixels:
            return factor
    return 8


_REDUCED = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}


def decode_image(data: bytes, name: str = "<bytes>", max_pixels: int = DEFAULT_MAX_PIXELS,
                 decode_pixels: int | None = None) -> np.ndarray:
    """Decode image bytes to 8-bit BGR, honouring EXIF orientation; raise :class:`ImageError`.

    ``decode_pixels``: decode a larger JPEG at the 1/2, 1/4 or 1/8 scale that fits (memory and time
    fall by the square of the factor); other formats are decoded at full size."""
    if not data:
        raise ImageError(f"{name}: empty file (0 bytes)")
    if is_heif(data):
        return _decode_heif(data, name, max_pixels)
    header = image_size_from_header(data)
    if header is None:
        if data[:2] == b"\xff\xd8":
            raise ImageError(f"{name}: JPEG data is corrupt or truncated (no frame header found)")
        raise ImageError(f"{name}: not a supported image (expected {SUPPORTED})")
    fmt, w, h = header
    # a 16-bit PNG decodes to twice the memory of an 8-bit one before it is reduced to 8 bits
    _refuse_above(name, w, h, max_pixels, weight=2 if fmt == "png16" else 1)
    fmt = fmt.removesuffix("16")
    buf = np.frombuffer(data, dtype=np.uint8)
    factor = _reduction(w, h, decode_pixels) if fmt == "jpeg" else 1
    flags = _REDUCED[factor] if factor > 1 else cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR
    image = cv2.imdecode(buf, flags)
    if image is None or image.size == 0:
        raise ImageError(f"{name}: {fmt.upper()} data is corrupt or truncated and could not be decoded")
    if image.shape[0] * image.shape[1] > max_pixels:
        raise ImageError(f"{name}: image is above the limit of {max_pixels / 1e6:.3g} megapixels")
    return to_bgr8(image)


def read_bytes_limited(path: str | Path, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """A file's bytes, after checking from its metadata that it is a regular file of at most
    ``max_bytes`` (a 2 GB file named .jpg, a FIFO or a device is never read); :class:`ImageError`."""
    path = Path(path)
    try:
        # O_NONBLOCK: opening a FIFO named .jpg must not wait for a writer
        with os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)), "rb") as f:
            st = os.fstat(f.fileno())
            if stat.S_ISDIR(st.st_mode):
                raise ImageError(f"{path}: is a directory, not an image")
            if not stat.S_ISREG(st.st_mode):
                raise ImageError(f"{path}: not a regular file")
            if st.st_size > max_bytes:
                raise ImageError(f"{path}: file is {st.st_size / 2**20:.1f} MB, above the limit of "
                                 f"{max_bytes / 2**20:.0f} MB (not read)")
            os.set_blocking(f.fileno(), True)
            return f.read(max_bytes + 1)[:max_bytes]
    except IsADirectoryError:
        raise ImageError(f"{path}: is a directory, not an image") from None
    except OSError as exc:
        raise ImageError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def read_image(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS, max_bytes: int = DEFAULT_MAX_BYTES,
               decode_pixels: int | None = None) -> np.ndarray:
    """Read an image file as 8-bit BGR; never modifies the file; raises :class:`ImageError`."""
    return decode_image(read_bytes_limited(path, max_bytes), str(path), max_pixels, decode_pixels)


def decode_photo(data: bytes, name: str = "<bytes>", max_pixels: int = DEFAULT_MAX_PIXELS,
                 decode_pixels: int | None = None) -> tuple[np.ndarray, str]:
    """A photo of a person (gallery, ``identify``), with a note for the user: like
    :func:`decode_image`, and a false-colour rendering (the seed's database) is turned back into
    the grey levels it was (:mod:`edge.vision.falsecolour`)."""
    from edge.vision.falsecolour import undo_false_colour

    image, colormap = undo_false_colour(decode_image(data, name, max_pixels, decode_pixels))
    return image, (f"false-colour image ({colormap} colormap) read as the greyscale it was" if colormap else "")


def read_photo(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS,
               max_bytes: int = DEFAULT_MAX_BYTES) -> tuple[np.ndarray, str]:
    """:func:`decode_photo` of a file, its size checked first (:func:`read_bytes_limited`)."""
    return decode_photo(read_bytes_limited(path, max_bytes), str(path), max_pixels)
