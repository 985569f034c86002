"""The systemd unit: it verifies, and its hardening exposure stays at or below 2.5."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

UNIT = REPO / "systemd" / "siamese-edge.service"
pytestmark = pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")


def template() -> str:
    """The camera-instance template unit as the installer writes it (systemd/template.sh)."""
    return subprocess.run(["bash", str(REPO / "systemd" / "template.sh")], capture_output=True, text=True,
                          check=True).stdout


def units(tmp_path) -> dict[str, Path]:
    """The main unit, and the template as its instance ``front`` (what systemd loads for it)."""
    out = {"siamese-edge.service": UNIT}
    (tmp_path / "inst").mkdir()
    out["siamese-edge@front.service"] = tmp_path / "inst" / "siamese-edge@front.service"
    out["siamese-edge@front.service"].write_text(template().replace("%i", "front"))
    return out


@pytest.mark.parametrize("name", ["siamese-edge.service", "siamese-edge@front.service"])
def test_unit_verifies(tmp_path, name):
    # verify checks that ExecStart exists: point it at this checkout's venv, change nothing else
    exe = Path(sys.executable).parent / "siamese-edge"
    unit = tmp_path / name
    unit.write_text(units(tmp_path)[name].read_text().replace("/opt/siamese-edge/.venv/bin/siamese-edge", str(exe)))
    r = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("name", ["siamese-edge.service", "siamese-edge@front.service"])
def test_security_exposure_is_at_most_2_5(tmp_path, name):
    r = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(units(tmp_path)[name])],
                       capture_output=True, text=True)
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout + r.stderr)
    assert m, r.stdout[-500:]
    print(f"\nsystemd-analyze security --offline=yes {name}: exposure {m.group(1)}")
    assert float(m.group(1)) <= 2.5


def test_the_template_gives_each_camera_its_own_config_state_and_snapshots_and_the_same_hardening():
    text, main = template(), UNIT.read_text()
    assert "ExecStart=/opt/siamese-edge/.venv/bin/siamese-edge run --config /etc/siamese-edge/%i.yaml" in text
    assert "StateDirectory=siamese-edge/%i/state" in text
    assert "ReadWritePaths=-/var/lib/siamese-edge/%i/snapshots" in text
    assert "ReadOnlyPaths=/var/lib/siamese-edge/gallery" in text  # one gallery for every camera
    hardening = [line for line in main.splitlines() if line.startswith(("Protect", "Restrict", "SystemCall",
                                                                        "Capability", "Device", "NoNew"))]
    assert hardening and all(line in text.splitlines() for line in hardening)


def test_unit_is_a_watchdogged_notify_service():
    text = UNIT.read_text()
    for line in ("Type=notify", "WatchdogSec=", "Restart=on-failure", "User=siamese-edge",
                 "SupplementaryGroups=video gpio", "ProtectSystem=strict", "DevicePolicy=closed",
                 "SystemCallFilter=@system-service", "NoNewPrivileges=yes"):
        assert line in text


def test_install_script_parses():
    assert subprocess.run(["bash", "-n", str(REPO / "systemd" / "install.sh")]).returncode == 0


def test_the_unit_leaves_proc_cpuinfo_visible():
    """ProcSubset=pid hides /proc/cpuinfo: LiteRT would silently run without XNNPACK."""
    lines = [line.split("#")[0].strip() for line in UNIT.read_text().splitlines()]
    assert not any(line.startswith("ProcSubset=") and line != "ProcSubset=all" for line in lines)


def test_the_daemon_names_the_cause_when_cpuinfo_is_hidden(tmp_path):
    """The daemon under a /proc mounted as ProcSubset=pid mounts it (a private mount and pid
    namespace) warns that models run without acceleration, and why."""
    import os

    import cv2
    import numpy as np

    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare to mount a private /proc")
    (tmp_path / "replay").mkdir()
    cv2.imwrite(str(tmp_path / "replay" / "0.png"), np.full((480, 640, 3), 70, np.uint8))
    (tmp_path / "gallery").mkdir()
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"camera: {{source: replay, path: {tmp_path / 'replay'}}}\n"
                   f"gallery: {{folder: {tmp_path / 'gallery'}}}\nstate_dir: {tmp_path / 'state'}\n")
    script = (f"mount -t proc -o subset=pid,hidepid=invisible proc /proc && exec {sys.executable} -m edge.cli "
              f"run --config {cfg}")
    r = subprocess.run(["unshare", "-m", "-p", "-f", "sh", "-c", script], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(UNIT.parents[1])}, timeout=120)
    if "mount" in r.stderr and r.returncode != 0 and "edge" not in r.stderr:
        pytest.skip(f"cannot mount a private /proc here: {r.stderr.strip()[:200]}")
    assert r.returncode == 0, r.stderr[-1000:]
    assert "/proc/cpuinfo cannot be read" in r.stderr and "remove ProcSubset=pid" in r.stderr



def run_installer_with(tmp_path: Path, tools: dict[str, str]) -> subprocess.CompletedProcess:
    """systemd/install.sh as root would run it, with ``tools`` (name: shell body) standing in first on
    PATH for the system's own."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in tools.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    return subprocess.run(["bash", str(REPO / "systemd" / "install.sh")], capture_output=True, text=True,
                          env={"PATH": f"{bin_dir}:/usr/bin:/bin", "LANG": "C.UTF-8"}, timeout=60)


@pytest.mark.parametrize("arch", ["armhf", "i386"])
def test_the_installer_refuses_a_32_bit_system_before_changing_anything(tmp_path, arch):
    """32-bit Pi OS (armhf userland, whatever the kernel's ``uname -m`` says) has no LiteRT wheel: the
    installer says so and what to flash, before apt, users or files. ``dpkg`` reports the
    architecture, ``id`` root, and every tool that changes the system fails loudly, so an installer
    that went on could not pass (nor change this machine)."""
    tools = {"dpkg": f'[ "$1" = --print-architecture ] && echo {arch}', "id": "echo 0", "uname": "echo aarch64"}
    for changer in ("apt-get", "apt-cache", "useradd", "groupadd", "usermod", "install", "tar", "python3",
                    "systemctl", "getent", "sha256sum", "chmod", "mv", "sed"):
        tools[changer] = f'echo "{changer} was called: $*" >&2; exit 97'
    r = run_installer_with(tmp_path, tools)
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"install.sh: error: this is a 32-bit or otherwise unsupported system ({arch} userland" in r.stderr
    assert "Raspberry Pi OS Lite (64-bit)" in r.stderr and "nothing was changed" in r.stderr
    assert "was called" not in r.stderr and "==> installing" not in r.stdout


def test_the_installer_goes_on_for_a_64_bit_pi(tmp_path):
    """The same with an arm64 userland: past the check, into apt (whose stand-in stops it there)."""
    r = run_installer_with(tmp_path, {"dpkg": '[ "$1" = --print-architecture ] && echo arm64', "id": "echo 0",
                                      "apt-cache": "exit 1", "apt-get": 'echo "apt-get was called: $*" >&2; exit 97'})
    assert "unsupported system" not in r.stderr
    assert "apt-get was called: update" in r.stderr and "failed during step: installing system packages" in r.stderr
