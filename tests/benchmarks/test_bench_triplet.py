"""benchmarks/bench_triplet.py at a tiny size: kzoo's semi-hard triplet
loss and the addons drop-in equal the dense reference (loss and gradient;
the script fails otherwise) and the results file holds every ratio."""

import json
import os
import subprocess
import sys

from tests.conftest import REPO_ROOT
from tests.conftest import subprocess_env

SCRIPT = os.path.join(REPO_ROOT, "benchmarks", "bench_triplet.py")


def test_tiny_run_checks_and_writes_the_ratios(tmp_path):
    out = tmp_path / "triplet.json"
    proc = subprocess.run(
        [sys.executable, SCRIPT, "--batch-size", "16", "--dim", "4",
         "--classes", "4", "--repeats", "1", "--output", str(out)],
        capture_output=True, text=True, timeout=300, env=subprocess_env(),
        cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    result = json.load(open(out))
    for mode in ("eager", "tf.function"):
        t, r = result["median_ms"][mode], result["ratio_to_reference"][mode]
        assert set(t) == {"reference", "kzoo TripletLoss(semi-hard)",
                          "kzoo.addons TripletSemiHardLoss"}
        assert r["reference"] == 1 and all(v > 0 for v in t.values())
        name = "kzoo TripletLoss(semi-hard)"
        # the times are rounded to 0.01 ms
        assert abs(r[name] - t[name] / t["reference"]) < 0.05 * r[name] + 0.01
    assert result["batch_size"] == 16
