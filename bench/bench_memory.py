"""Resident memory of the daemon over many frames on the replay source (does it stay flat?).

    .venv/bin/python bench/bench_memory.py [--frames 10000] [--replay demo/replay] [--gallery demo/gallery]

Runs the real :class:`edge.daemon.Daemon` (replay looping as fast as it can be read, events
discarded) and samples VmRSS from /proc every 500 processed frames.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.camera.replay import ReplayCamera  # noqa: E402
from edge.config import parse_config  # noqa: E402
from edge.daemon import Daemon  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Null:
    name = "null"

    def handle(self, event) -> None:
        pass

    def close(self) -> None:
        pass


class Sampling(Daemon):
    samples: list[tuple[int, float]]

    def _process(self, frame, now) -> None:
        super()._process(frame, now)
        if self.processed % 500 == 0:
            self.samples.append((self.processed, round(rss_mb(), 1)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=10_000)
    ap.add_argument("--replay", default=str(REPO / "demo/replay"))
    ap.add_argument("--gallery", default=str(REPO / "demo/gallery"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as state:
        cfg = parse_config(f"""
camera: {{source: replay, path: {args.replay}}}
recognition: {{cooldown_s: 0}}
gallery: {{folder: {args.gallery}}}
logging: {{stats_interval_s: 60}}
events: {{log_stdout: false}}
state_dir: {state}
""")
        d = Sampling(cfg, camera=ReplayCamera(args.replay, loop=True, realtime=False), sinks=[Null()])
        d.samples = [(0, round(rss_mb(), 1))]
        d.run(max_frames=args.frames)
        s = d.samples
        print(json.dumps({"frames": d.processed, "rss_mb_start": s[1][1], "rss_mb_end": s[-1][1],
                          "rss_mb_max": max(v for _, v in s), "growth_mb_after_first_500": round(s[-1][1] - s[1][1], 1),
                          "announcements": sum(d.totals.announcements.values()), "samples": s}, indent=1))


if __name__ == "__main__":
    main()
