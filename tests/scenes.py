"""A doorway the daemon, identify and Home Assistant tests film: frames with a headshot pasted in,
and recordings as a Raspberry Pi makes them.

``rpicam-vid -o clip.h264`` writes a raw H.264 stream, ``--codec mjpeg`` one JPEG after another:
no container, so no timestamps and no frame rate FFmpeg can read (OpenCV says 25 frames a second,
and for H.264 0 s for every frame). OpenCV's wheel has no H.264 encoder, so those clips are encoded
with PyAV's libx264 (the dev extra).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np


def frame_of(photo: Path | None) -> np.ndarray:
    """A 640×480 frame of an empty grey doorway, with the 250×250 headshot ``photo`` standing in it."""
    canvas = np.full((480, 640, 3), 70, np.uint8)
    if photo is not None:
        canvas[100:350, 200:450] = cv2.imread(str(photo))
    return canvas


def doorbell_frames(faces, fps: int) -> Iterable[np.ndarray]:
    """The doorbell clip's half-second scenes, each ``fps / 2`` frames long: Obama at 1.0–3.5 s
    (looking away at 2.5 s), nobody until 6.0 s, a stranger (Eileen Collins) at 6.0–7.0 s, Obama
    again at 7.5 s."""
    for photo in ([None] * 2 + [faces.obama[1]] * 3 + [None] + [faces.obama[1]] * 2 + [None] * 4
                  + [faces.collins] * 3 + [faces.obama[2]]):
        for _ in range(fps // 2):
            yield frame_of(photo)


def damaged_copy(clip: Path, path: Path) -> Path:
    """``clip`` with 40 bytes flipped in its middle third (seeded), as a bad copy or a failing card
    leaves a recording: for the 10 fps doorbell stream, FFmpeg meets several errors and gives up on
    one frame at about 3.6 s."""
    data = bytearray(clip.read_bytes())
    for at in np.random.default_rng(7).integers(len(data) // 3, 2 * len(data) // 3, 40):
        data[at] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


def write_raw_h264(path: Path, frames: Iterable[np.ndarray], fps: int) -> Path:
    """``frames`` (BGR, all one even size) as a raw Annex-B H.264 stream at ``fps``, like rpicam-vid's."""
    import av

    with av.open(str(path), "w", format="h264") as out:
        stream = None
        for frame in frames:
            if stream is None:
                stream = out.add_stream("libx264", rate=fps)
                stream.height, stream.width = frame.shape[:2]
                stream.pix_fmt = "yuv420p"
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")))
        if stream is not None:
            out.mux(stream.encode())
    return path


def write_raw_mjpeg(path: Path, frames: Iterable[np.ndarray], fps: int) -> Path:
    """``frames`` as a raw MJPEG stream — JPEG after JPEG, as ``rpicam-vid --codec mjpeg`` writes;
    ``fps`` is not in it (a raw stream cannot say it)."""
    with open(path, "wb") as out:
        for frame in frames:
            ok, jpeg = cv2.imencode(".jpg", frame)
            assert ok
            out.write(jpeg.tobytes())
    return path


def write_phone_heic(photo: Path, path: Path) -> Path:
    """``photo`` as an iPhone saves it: HEIC, the pixels as the sensor saw them (turned a quarter to
    the left) and the file's rotation saying to turn them back to show the picture upright."""
    import pillow_heif
    from PIL import Image

    sensor = Image.open(photo).convert("RGB").transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()  # not the image's own: pillow-heif would turn the pixels upright before saving
    exif[0x0112] = 6  # EXIF orientation 6: turn 90° clockwise to show
    pillow_heif.from_pillow(sensor).save(path, exif=exif.tobytes(), quality=85)
    return path
