"""CPU cost of the real daemon with the motion gate off and on, from the process's own CPU clock.

Two replays at 10 fps in real time, the daemon running on each for ``--seconds``:
(a) an empty, still scene (a 640×480 room with nobody in it, camera noise of ±3 grey levels on
every frame), (b) the demo's visits (Obama, Biden, Obama, with empty scenes between), looped.
The daemon is the real :class:`edge.daemon.Daemon` (its own process, as ``siamese-edge run`` builds
it) with one difference: its camera is the replay's frames decoded once, in memory, delivered at
10 fps — as a real camera delivers frames, at no decoding cost to the daemon (re-decoding a 640×480
PNG per frame would cost more than the whole gated loop). CPU seconds per minute = (utime + stime
of that process, from /proc, from ``--settle`` seconds after its "running:" line — start-up work such
as the interpreters' first runs is not the steady state — to the end) / wall minutes. The gate-off
and gate-on runs alternate (``--rounds``) so that machine load hits both alike. Announcements of the
demo replay are compared between the two.

    .venv/bin/python bench/bench_motion.py --seconds 30 --rounds 2 --json docs/results/bench_motion.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")


def empty_scene(folder: Path, frames: int = 20) -> Path:
    """A still room: the same background with fresh sensor noise on every frame."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    room = np.full((480, 640, 3), 90, np.uint8)
    cv2.rectangle(room, (40, 60), (260, 470), (60, 80, 110), -1)  # a door
    cv2.rectangle(room, (380, 120), (600, 300), (150, 150, 140), -1)  # a picture on the wall
    for i in range(frames):
        noise = rng.integers(-3, 4, room.shape)
        cv2.imwrite(str(folder / f"{i:04d}.png"), np.clip(room.astype(np.int16) + noise, 0, 255).astype(np.uint8))
    return folder


def config(base: Path, replay: Path, gate: bool, extra: str = "") -> Path:
    path = base / f"config-{replay.name}-{'on' if gate else 'off'}.yaml"
    gallery = REPO / "demo" / "gallery"
    path.write_text(f"""
device_name: bench
camera: {{source: replay, path: {replay}, fps: 10, loop: true}}
detector: {{model: full}}
motion: {{gate: {str(gate).lower()}{extra}}}
recognition: {{votes_needed: 3, votes_window: 5, cooldown_s: 0}}
gallery: {{folder: {gallery}}}
logging: {{stats_interval_s: 3600}}
events: {{log_stdout: true}}
state_dir: {base / 'state'}
""")
    return path


class DecodedReplay:
    """A camera that delivers a folder's images, decoded once at open, looping at ``fps`` in real time."""

    def __init__(self, folder: Path, fps: float) -> None:
        self.name = f"decoded:{folder.name}"
        self.folder, self.period = folder, 1.0 / fps
        self.frames: list = []

    def open(self) -> None:
        from edge.vision.imageio import read_image

        self.frames = [read_image(p) for p in sorted(self.folder.iterdir()) if p.suffix in (".png", ".jpg")]
        self.i, self.next_t = 0, time.monotonic()

    def read(self):  # noqa: ANN201 - a BGR frame
        delay = self.next_t - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        self.next_t = max(self.next_t + self.period, time.monotonic() - self.period)
        self.i += 1
        return self.frames[(self.i - 1) % len(self.frames)]

    def close(self) -> None:
        self.frames = []


def daemon_process(cfg_path: Path) -> int:
    """``--daemon CONFIG``: the daemon as ``siamese-edge run`` starts it, on :class:`DecodedReplay`."""
    from edge.config import check_files, load_config
    from edge.daemon import Daemon
    from edge.logs import setup_logging

    cfg = load_config(cfg_path)
    check_files(cfg)
    setup_logging(cfg.logging.format, cfg.logging.level)
    return Daemon(cfg, config_path=cfg_path, camera=DecodedReplay(Path(cfg.camera.path), cfg.camera.fps)).run()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def run(cfg: Path, seconds: float, settle: float) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, __file__, "--daemon", str(cfg)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        if "running:" in line:
            break
    time.sleep(settle)
    c0, t0 = cpu_seconds(proc.pid), time.monotonic()
    time.sleep(seconds)
    c1, t1 = cpu_seconds(proc.pid), time.monotonic()
    proc.terminate()
    out, _ = proc.communicate(timeout=30)
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    names = [(e["type"], e.get("name")) for e in events if e["type"] in ("recognized", "unknown")]
    return {"cpu_s_per_min": (c1 - c0) / ((t1 - t0) / 60), "announcements": names}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--settle", type=float, default=5)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--daemon", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.daemon:
        sys.exit(daemon_process(args.daemon))
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        scenes = {"empty scene": empty_scene(base / "empty"), "demo visits": REPO / "demo" / "replay"}
        results: dict = {name: {"off": [], "on": []} for name in scenes}
        announced: dict = {name: {} for name in scenes}
        for _ in range(args.rounds):
            for name, replay in scenes.items():
                for gate in (False, True):
                    r = run(config(base, replay, gate), args.seconds, args.settle)
                    key = "on" if gate else "off"
                    results[name][key].append(round(r["cpu_s_per_min"], 2))
                    announced[name][key] = r["announcements"]
                    print(f"{name:12s} gate {key:3s}: {r['cpu_s_per_min']:.2f} CPU s/min", flush=True)
    report = {"command": "bench/bench_motion.py " + " ".join(sys.argv[1:]), "seconds_per_run": args.seconds,
              "fps": 10, "cpu_s_per_min": results}
    for name in scenes:
        off, on = np.median(results[name]["off"]), np.median(results[name]["on"])
        report[f"{name}: gate on / off"] = round(float(on / off), 3)
        # the demo loops every 14 s: the runs cover different numbers of visits, so compare who was named
        report[f"{name}: same people announced"] = (sorted(set(announced[name]["on"]))
                                                    == sorted(set(announced[name]["off"])))
        print(f"{name}: on/off = {on / off:.3f}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
