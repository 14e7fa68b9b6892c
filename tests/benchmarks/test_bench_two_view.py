"""benchmarks/bench_two_view.py at a tiny budget: it times the three
pipelines (kzoo, the TensorFlow twin read from git, keras-io's per-example
map) and the training step with and without in-step augmentation, and
writes its results file."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT
from tests.conftest import subprocess_env

SCRIPT = os.path.join(REPO_ROOT, "benchmarks", "bench_two_view.py")


@pytest.mark.tf_backend
def test_tiny_run_writes_every_figure(tmp_path, cifar_dir):
    out = tmp_path / "two_view.json"
    proc = subprocess.run(
        [sys.executable, SCRIPT, "--data-dir", os.path.dirname(cifar_dir),
         "--images", "512", "--batch-size", "32", "--batches", "2",
         "--rounds", "1", "--steps", "1", "--output", str(out)],
        capture_output=True, text=True, env=subprocess_env(), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(out.read_text())
    rates = results["pipeline_images_per_s"]
    expected = {"kzoo", "keras_io_per_example"}
    if results["baseline_skipped"] is None:  # a git checkout with history
        expected.add("kzoo_before")
    assert set(rates) == expected
    assert all(rate > 0 for rate in rates.values())
    assert set(results["kzoo_over"]) == expected - {"kzoo"}
    steps = results["train_step_ms"]
    assert steps["views_from_tf_data"] > 0
    assert steps["augmenting_in_the_step"] > 0
    assert "two-view pipeline kzoo" in proc.stdout
