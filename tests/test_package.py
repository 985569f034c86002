"""`pip install .` outside the checkout gives a working program: the shipped model and its card come
as package data, the detector models are fetched into the user's cache, the defaults need no
config.yaml. Proven as a user would: a fresh venv, a folder that is not the checkout, and
`siamese-edge identify` naming the person in a demo photo."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

DEMO = REPO / "demo"


@pytest.mark.slow
def test_pip_install_outside_the_checkout_identifies_with_the_shipped_model(tmp_path):
    if not (DEMO / "gallery").is_dir():
        pytest.skip("the demo portraits are fetched by `make demo` (make test does it first)")
    venv, work, home = tmp_path / "venv", tmp_path / "work", tmp_path / "home"
    work.mkdir()
    home.mkdir()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8",
           "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    r = subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", str(REPO)], env=env, cwd=work,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    se = str(venv / "bin" / "siamese-edge")
    r = subprocess.run([se, "fetch-models"], env=env, cwd=work, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-1000:]
    assert str(home / ".cache" / "siamese-edge" / "models") in r.stdout  # not into the installed package
    r = subprocess.run([se, "identify", "--json", "--gallery", str(DEMO / "gallery"),
                        str(DEMO / "probes" / "obama2.jpg"), str(DEMO / "probes" / "biden.jpg")],
                       env=env, cwd=work, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-1000:]
    names = [json.loads(line)["name"] for line in r.stdout.splitlines()]
    assert names == ["Barack Obama", "Joe Biden"]
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import edge; print(edge.__file__)"], env=env,
                           cwd=work, capture_output=True, text=True).stdout
    assert str(venv) in where  # the installed copy ran, not the checkout
