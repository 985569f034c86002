"""Reading user images: every bad input is an ImageError naming the file; odd formats normalise to BGR."""

import struct
import zlib

import cv2
import numpy as np
import pytest

from edge.errors import ImageError
from edge.vision.imageio import decode_image, read_image


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims a huge size (a decompression bomb needs no more to be dangerous)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))


@pytest.fixture
def photo(tmp_path):
    img = np.random.default_rng(0).integers(0, 255, (60, 80, 3), np.uint8)
    path = tmp_path / "photo.jpg"
    cv2.imwrite(str(path), img)
    return path


def test_zero_byte_file_is_refused_by_name(tmp_path):
    p = tmp_path / "empty.jpg"
    p.write_bytes(b"")
    with pytest.raises(ImageError, match="empty.jpg: empty file"):
        read_image(p)


def test_text_file_is_not_an_image(tmp_path):
    p = tmp_path / "notes.jpg"
    p.write_text("hello, I am not a photo")
    with pytest.raises(ImageError, match="notes.jpg: not a supported image"):
        read_image(p)


def test_truncated_jpeg_is_refused(photo, tmp_path):
    p = tmp_path / "truncated.jpg"
    p.write_bytes(photo.read_bytes()[:300])
    with pytest.raises(ImageError, match="truncated.jpg"):
        read_image(p)


def test_corrupt_png_is_refused(tmp_path):
    p = tmp_path / "corrupt.png"
    p.write_bytes(_png_header_only(64, 64) + b"garbage" * 10)
    with pytest.raises(ImageError, match="corrupt.png: PNG data is corrupt"):
        read_image(p)


def test_100_megapixel_image_is_refused_without_decoding(tmp_path):
    p = tmp_path / "bomb.png"
    p.write_bytes(_png_header_only(10_000, 10_000))
    with pytest.raises(ImageError, match=r"bomb.png: image is 10000×10000 = 100.0 megapixels"):
        read_image(p)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ImageError, match="missing.jpg: cannot be read"):
        read_image(tmp_path / "missing.jpg")
    with pytest.raises(ImageError, match="is a directory"):
        read_image(tmp_path)


@pytest.mark.parametrize("kind", ["gray", "rgba", "gray16", "rgb16"])
def test_odd_pngs_become_8bit_bgr(tmp_path, kind):
    rng = np.random.default_rng(1)
    arrays = {
        "gray": rng.integers(0, 255, (40, 50), np.uint8),
        "rgba": rng.integers(0, 255, (40, 50, 4), np.uint8),
        "gray16": rng.integers(0, 65535, (40, 50), np.uint16),
        "rgb16": rng.integers(0, 65535, (40, 50, 3), np.uint16),
    }
    p = tmp_path / f"{kind}.png"
    cv2.imwrite(str(p), arrays[kind])
    img = read_image(p)
    assert img.dtype == np.uint8 and img.shape == (40, 50, 3)
    if kind == "gray16":  # 16-bit values keep their top byte
        assert np.array_equal(img[..., 0], (arrays[kind] >> 8).astype(np.uint8))


def test_reading_never_modifies_the_file(photo):
    before = (photo.read_bytes(), photo.stat().st_mtime_ns)
    read_image(photo)
    assert (photo.read_bytes(), photo.stat().st_mtime_ns) == before


def test_decode_bytes_reports_given_name():
    with pytest.raises(ImageError, match="upload-7: empty file"):
        decode_image(b"", "upload-7")


def test_a_heic_photo_from_a_phone_is_read_upright_and_a_broken_one_refused_by_name(tmp_path):
    """HEIC as an iPhone saves it (sensor pixels turned, a rotation in the file): read as the
    picture it shows, the same as the JPEG it was made from within compression; a truncated one,
    and one whose container claims 100 megapixels, are refused naming the file."""
    from tests.portraits import PORTRAITS
    from tests.scenes import write_phone_heic

    jpeg = PORTRAITS / "Joe Biden" / "biden.jpg"
    heic = write_phone_heic(jpeg, tmp_path / "IMG_0042.HEIC")
    upright = read_image(jpeg)
    got = read_image(heic)
    assert got.shape == upright.shape and got.dtype == np.uint8
    assert np.abs(got.astype(int) - upright.astype(int)).mean() < 4  # the same picture, not turned
    (tmp_path / "cut.heic").write_bytes(heic.read_bytes()[: heic.stat().st_size // 2])
    with pytest.raises(ImageError, match="cut.heic: HEIC data is corrupt or truncated"):
        read_image(tmp_path / "cut.heic")
    with pytest.raises(ImageError, match=r"IMG_0042.HEIC: image is 970×2204 = 2.1 megapixels, above the limit"):
        read_image(heic, max_pixels=1_000_000)


def test_without_the_heic_reader_a_heic_photo_is_refused_with_what_to_do(tmp_path, monkeypatch):
    """On a Pi with no pi-heif wheel (32-bit Arm) a HEIC photo is not a crash and not "not an
    image": the message names the file, the missing reader and the way out."""
    import sys

    from tests.portraits import PORTRAITS
    from tests.scenes import write_phone_heic

    heic = write_phone_heic(PORTRAITS / "Joe Biden" / "biden.jpg", tmp_path / "IMG_0042.HEIC")
    monkeypatch.setitem(sys.modules, "pi_heif", None)  # import pi_heif now raises ImportError
    with pytest.raises(ImageError, match="IMG_0042.HEIC: a HEIC photo, and pi-heif .* is not installed: "
                                         "pip install pi-heif, or save the photo as JPEG"):
        read_image(heic)
