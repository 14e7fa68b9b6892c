"""benchmarks/bench_gather.py at a tiny size: it times both variants under
2 logical CPU replicas and writes the ratio."""

import json
import os
import subprocess
import sys

from tests.conftest import REPO_ROOT, subprocess_env

SCRIPT = os.path.join(REPO_ROOT, "benchmarks", "bench_gather.py")


def test_tiny_run_writes_the_ratio(tmp_path):
    out = tmp_path / "g.json"
    proc = subprocess.run(
        [sys.executable, SCRIPT, "--batch-size", "8", "--image-size", "8",
         "--width", "4", "--rounds", "1", "--steps", "1", "--output",
         str(out)], capture_output=True, text=True, timeout=300,
        env=subprocess_env(), cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    result = json.load(open(out))
    assert result["replicas"] == 2 and result["global_batch"] == 8
    times = result["median_step_seconds"]
    assert times["gather"] > 0 and times["per_replica"] > 0
    assert abs(result["ratio_gather_over_per_replica"]
               - times["gather"] / times["per_replica"]) < 0.01
    assert "ratio" in proc.stdout
