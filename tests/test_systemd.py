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


def test_unit_verifies(tmp_path):
    # verify checks that ExecStart exists: point it at this checkout's venv, change nothing else
    exe = Path(sys.executable).parent / "siamese-edge"
    unit = tmp_path / "siamese-edge.service"
    unit.write_text(UNIT.read_text().replace("/opt/siamese-edge/.venv/bin/siamese-edge", str(exe)))
    r = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_security_exposure_is_at_most_2_5():
    r = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(UNIT)], capture_output=True, text=True)
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout + r.stderr)
    assert m, r.stdout[-500:]
    print(f"\nsystemd-analyze security --offline=yes: exposure {m.group(1)}")
    assert float(m.group(1)) <= 2.5


def test_unit_is_a_watchdogged_notify_service():
    text = UNIT.read_text()
    for line in ("Type=notify", "WatchdogSec=", "Restart=on-failure", "User=siamese-edge",
                 "SupplementaryGroups=video gpio", "ProtectSystem=strict", "DevicePolicy=closed",
                 "SystemCallFilter=@system-service", "NoNewPrivileges=yes"):
        assert line in text


def test_install_script_parses():
    assert subprocess.run(["bash", "-n", str(REPO / "systemd" / "install.sh")]).returncode == 0
