"""The MQTT password where every user of the machine can read it — inline in a config file that is
0644 (as the installed one is), or in a world-readable `password_file` — is named by `check-config`
and in the service's log, with what to change; it is not an error (the service still runs)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2

from tests.conftest import REPO
from tests.scenes import frame_of


def se(*args: str) -> subprocess.CompletedProcess:
    r = subprocess.run([sys.executable, "-m", "edge.cli", *args], env={**os.environ, "PYTHONPATH": str(REPO)},
                       capture_output=True, text=True, timeout=300)
    assert "Traceback" not in r.stderr, r.stderr[-1500:]
    return r


def write_config(tmp_path: Path, mqtt: str, mode: int) -> Path:
    (tmp_path / "replay").mkdir(exist_ok=True)
    cv2.imwrite(str(tmp_path / "replay" / "0.png"), frame_of(None))
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"camera: {{source: replay, path: {tmp_path / 'replay'}, loop: false}}\n"
                   f"gallery: {{folder: {tmp_path / 'gallery'}}}\nstate_dir: {tmp_path / 'state'}\n"
                   f"events: {{mqtt: {{enabled: true, port: 1, username: door, {mqtt}}}}}\n")
    cfg.chmod(mode)
    return cfg


def test_an_inline_password_in_a_world_readable_config_is_named(tmp_path):
    cfg = write_config(tmp_path, "password: hunter2", 0o644)
    r = se("check-config", "--config", str(cfg))
    assert r.returncode == 0 and r.stdout == f"{cfg}: ok\n"
    assert r.stderr == (f"warning: events -> mqtt -> password: is written in {cfg}, which every user of this machine "
                        "can read (mode 644): move it to a password_file only the service's user can read "
                        "(chmod 600), or to password_env\n")
    assert "hunter2" not in r.stderr
    cfg.chmod(0o600)
    r = se("check-config", "--config", str(cfg))
    assert r.returncode == 0 and r.stderr == ""


def test_a_world_readable_password_file_is_named_and_the_service_says_so_too(tmp_path):
    secret = tmp_path / "mqtt.secret"
    secret.write_text("hunter2\n")
    secret.chmod(0o644)
    cfg = write_config(tmp_path, f"password_file: {secret}", 0o644)
    says = (f"events -> mqtt -> password_file: {secret}, which every user of this machine can read (mode 644): "
            f"chmod 600 {secret} (owned by the service's user)")
    r = se("check-config", "--config", str(cfg))
    assert r.returncode == 0 and r.stderr == f"warning: {says}\n"
    r = se("run", "--config", str(cfg))  # one frame, then the replay ends
    assert r.returncode == 0 and f"WARNING edge.config: {says}" in r.stderr, r.stderr[-1500:]
    secret.chmod(0o600)
    r = se("check-config", "--config", str(cfg))
    assert r.returncode == 0 and r.stderr == ""
