"""Per-stage timings of the device pipeline on a 640×480 frame, 1 thread.

    .venv/bin/python bench/bench_pipeline.py [--frames 200] [--threads 1] [--rows 10000]

Stages: detect (BlazeFace full range, the daemon's default, with its input fitted to the 4:3 frame
and, for comparison, with the 192×192 square input; and short range), landmarks (FaceMesh
refinement), align (similarity transform + warp; and both together), embed (int8 ResNet, with the
card's mirror average, and the crop alone), match (Siamese head and cosine against a gallery of
``--rows`` rows), the whole frame as ``identify`` runs it (mirror always) and as the daemon runs a
fresh face (detect, then identify with the adaptive mirror, a clear decision). The
frame is a real photo (LFW, or the demo portraits when ../shared is absent) placed on a 640×480
canvas. Median and 90th percentile in ms.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path


def _pin_blas_threads() -> None:
    """numpy's BLAS (the matching stage) gets the same thread budget as the interpreters; it reads
    these variables once, at import, so they are set before numpy is imported."""
    n = sys.argv[sys.argv.index("--threads") + 1] if "--threads" in sys.argv[:-1] else "1"
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = n


_pin_blas_threads()

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.vision.card import Decision  # noqa: E402
from edge.vision.detector import FaceDetector  # noqa: E402
from edge.vision.embedder import l2_normalize  # noqa: E402
from edge.vision.imageio import read_image  # noqa: E402
from edge.vision.matcher import Matcher  # noqa: E402
from edge.vision.pipeline import Recognizer  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def frame_640x480() -> np.ndarray:
    candidates = [REPO.parent / "shared/datasets/lfw/lfw-deepfunneled/Colin_Powell/Colin_Powell_0001.jpg",
                  REPO / "demo/probes/obama2.jpg"]
    src = next((p for p in candidates if p.is_file()), None)
    if src is None:
        raise SystemExit("no sample photo: run `make demo` first (or have ../shared)")
    img = read_image(src)
    canvas = np.full((480, 640, 3), 90, np.uint8)
    h, w = img.shape[:2]
    s = min(400 / h, 400 / w, 1.0)
    import cv2

    img = cv2.resize(img, (int(w * s), int(h * s)))
    canvas[40:40 + img.shape[0], 120:120 + img.shape[1]] = img
    return canvas


def timeit(fn, n: int) -> dict:
    fn()  # warm-up
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t) * 1e3)
    return {"median_ms": round(float(np.median(ts)), 3), "p90_ms": round(float(np.percentile(ts, 90)), 3)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rows", type=int, default=10_000)
    args = ap.parse_args()
    frame = frame_640x480()
    rec = Recognizer(num_threads=args.threads, detector_model="full")
    pre = rec.preprocessor
    face = pre.detect(frame)[0]
    crop = pre.align(frame, face).crop
    pts = pre.template_points(frame, face)[0]
    rng = np.random.default_rng(0)
    gallery = l2_normalize(rng.normal(size=(args.rows, rec.embedder.card.embedding_size)))
    names = [f"person {i // 4}" for i in range(args.rows)]
    card = rec.embedder.card
    probe = rec.embedder.embed(crop[None])[0]
    short = FaceDetector("short", num_threads=args.threads)
    square = FaceDetector("full", num_threads=args.threads, fit_frame=False)
    head = Matcher(names, gallery, Decision("head", 0.5, 0.0), np.asarray(card.head_weights), card.head_bias)
    cosine = Matcher(names, gallery, Decision("cosine", 0.5, 0.0))
    results = {
        "detect_full_range": timeit(lambda: pre.detector.detect(frame), args.frames),
        "detect_full_range_square_input": timeit(lambda: square.detect(frame), args.frames),
        "detect_short_range": timeit(lambda: short.detect(frame), args.frames),
        # alignment as two stages: FaceMesh landmark refinement, then Umeyama + warpAffine
        "landmarks_facemesh": timeit(lambda: pre.template_points(frame, face), args.frames),
        "align_similarity_warp": timeit(lambda: pre.crop_at(frame, pts), args.frames),
        "align_total_facemesh_warp": timeit(lambda: pre.align(frame, face), args.frames),
        "embed_int8": timeit(lambda: rec.embedder.embed(crop[None]), args.frames),
        "embed_int8_crop_alone": timeit(lambda: rec.embedder.embed(crop[None], mirror=False), args.frames),
        "match_head": timeit(lambda: head.match(probe), args.frames),
        "match_cosine": timeit(lambda: cosine.match(probe), args.frames),
        "whole_frame_identify": timeit(lambda: rec.identify(frame), args.frames // 2),
    }
    # the daemon's path for a fresh face: detect, then identify with the adaptive mirror, against a
    # gallery holding this person (a clear decision: the crop alone decides)
    rec.matcher = rec.make_matcher(["the person in the frame"], probe[None])
    results["whole_frame_daemon_adaptive_clear"] = timeit(
        lambda: rec.identify_faces(frame, rec.detect(frame), adaptive=True), args.frames // 2)
    mirrored_before = rec.mirrored
    rec.identify_faces(frame, rec.detect(frame), adaptive=True)
    assert rec.mirrored == mirrored_before, "the clear decision should not need the mirror pass"
    print(json.dumps({"machine": platform.machine(), "processor": platform.processor() or platform.platform(),
                      "threads": args.threads, "frame": "640x480, one face", "gallery_rows": args.rows,
                      "flip_average": card.flip_average, "mirror_band": card.decision.mirror_band,
                      "stages": results}, indent=2))


if __name__ == "__main__":
    main()
