"""benchmarks/bench_detection_map.py at a tiny size: kzoo's COCO stats equal
pycocotools' (the script exits otherwise) and the results file holds both
times and the ratio."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT
from tests.conftest import subprocess_env

SCRIPT = os.path.join(REPO_ROOT, "benchmarks", "bench_detection_map.py")


def test_tiny_run_checks_and_writes_the_ratio(tmp_path):
    pytest.importorskip("pycocotools")
    out = tmp_path / "map.json"
    proc = subprocess.run(
        [sys.executable, SCRIPT, "--images", "20", "--detections", "20",
         "--repeats", "1", "--output", str(out)], capture_output=True,
        text=True, timeout=300, env=subprocess_env(), cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "stats equal (exactly)" in proc.stdout
    result = json.load(open(out))
    t = result["median_ms"]
    assert t["kzoo"] > 0 and t["pycocotools"] > 0
    assert abs(result["ratio_kzoo_over_pycocotools"]
               - t["kzoo"] / t["pycocotools"]) < 0.01
    assert result["images"] == 20 and result["stats_equal"] is True
    assert 0 <= result["stats"]["AP"] <= 1
