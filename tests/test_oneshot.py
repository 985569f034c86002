"""`siamese-edge evaluate oneshot`: the seed project's own task (N-way one-shot identification over a
folder per person), through the same code path as `identify`."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import REPO


def test_oneshot_over_the_seeds_eval_folder_reports_every_n(seed_dir, tmp_path):
    out = tmp_path / "oneshot.json"
    r = subprocess.run([sys.executable, "-m", "edge.cli", "evaluate", "oneshot", str(seed_dir / "eval"),
                        "--trials", "60", "--max-way", "3", "--json", str(out)], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=300)
    assert r.returncode == 0, r.stderr[-1500:]
    report = json.loads(out.read_text())
    assert report["people"] == 5 and report["photos"] == 214
    assert report["detect_failures"] <= 3  # a blank grey square and two half faces
    assert [row["n_way"] for row in report["rows"]] == [2, 3]
    for row in report["rows"]:
        assert row["trials"] == 60
        assert 0.85 <= row["closed_set_rank1"] <= 1.0  # 94–98 % over 1,000 trials (README)
        assert 0.0 <= row["open_set_rank1"] <= row["closed_set_rank1"]  # the rule also says "unknown"
    table = r.stdout.splitlines()
    assert table[1].split() == ["N", "closed", "set", "(rank-1)", "shipped", "open-set", "rule"]
    assert table[2].split()[0] == "2" and table[3].split()[0] == "3"
