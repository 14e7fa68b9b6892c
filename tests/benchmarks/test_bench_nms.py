"""benchmarks/bench_nms.py at a tiny size: every kzoo row (the TensorFlow
kernel path and the keras.ops path) keeps the reference's boxes, and the
results file holds each row's time and ratio."""

import json
import os
import subprocess
import sys

from tests.conftest import REPO_ROOT
from tests.conftest import subprocess_env

SCRIPT = os.path.join(REPO_ROOT, "benchmarks", "bench_nms.py")


def test_tiny_run_checks_and_writes_every_row(tmp_path):
    out = tmp_path / "nms.json"
    proc = subprocess.run(
        [sys.executable, SCRIPT, "--batch-size", "2", "--candidates", "60",
         "--repeats", "1", "--score-threshold", "0.3", "--output",
         str(out)], capture_output=True, text=True, timeout=300,
        env=subprocess_env(), cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "equal the eager reference loop" in proc.stdout
    result = json.load(open(out))
    rows = result["median_ms"]
    assert "kzoo keras.ops NMS (tf.function)" in rows
    assert "kzoo batched_non_max_suppression" in rows
    assert all(v > 0 for v in rows.values())
    assert result["ratio_to_eager_reference"]["reference loop (eager)"] == 1
    assert result["candidates_above_threshold"] > 0
    assert all(result["same_as_reference"][name] for name in rows
               if name.startswith("kzoo"))
    assert result["command"].startswith("python benchmarks/bench_nms.py")
