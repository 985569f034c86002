"""What carrying names over along tracks saves: the real daemon on a replay, every frame analysed,
once identifying every face on every frame (``reidentify_every: 1``) and once with the default (5).

    .venv/bin/python bench/bench_tracking.py [--replay demo/replay] [--gallery demo/gallery] [--passes 3]

Prints, per setting: frames, faces seen, faces identified afresh, the announcements, and the mean
processing time per frame (detect + whatever identification the frame needed), 1 thread.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.camera.replay import ReplayCamera  # noqa: E402
from edge.config import parse_config  # noqa: E402
from edge.daemon import Daemon  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


class Collect:
    name = "collect"

    def __init__(self) -> None:
        self.announced: list[str] = []

    def handle(self, event) -> None:
        if event.type in ("recognized", "unknown"):
            self.announced.append(event.name or "unknown")

    def close(self) -> None:
        pass


class Timed(Daemon):
    process_s: float = 0.0

    def _process(self, frame, now) -> None:
        t = time.perf_counter()
        super()._process(frame, now)
        self.process_s += time.perf_counter() - t


def run(replay: str, gallery: str, passes: int, every: int) -> dict:
    with tempfile.TemporaryDirectory() as state:
        cfg = parse_config(f"""
camera: {{source: replay, path: {replay}, realtime: false}}
recognition: {{reidentify_every: {every}}}
gallery: {{folder: {gallery}}}
logging: {{stats_interval_s: 600}}
events: {{log_stdout: false}}
state_dir: {state}
""")
        sink = Collect()
        frames = len(list(Path(replay).iterdir())) * passes
        d = Timed(cfg, camera=ReplayCamera(replay, loop=True, realtime=False), sinks=[sink])
        d.run(max_frames=frames)
        return {"reidentify_every": every, "frames": d.processed, "faces_seen": d.faces_seen,
                "faces_identified": d.faces_seen - d.faces_carried, "announced": sink.announced,
                "mean_ms_per_frame": round(d.process_s / max(d.processed, 1) * 1e3, 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--replay", default=str(REPO / "demo/replay"))
    ap.add_argument("--gallery", default=str(REPO / "demo/gallery"))
    ap.add_argument("--passes", type=int, default=3)
    args = ap.parse_args()
    print(json.dumps([run(args.replay, args.gallery, args.passes, every) for every in (1, 5)], indent=1))


if __name__ == "__main__":
    main()
