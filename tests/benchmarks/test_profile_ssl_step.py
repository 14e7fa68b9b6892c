"""benchmarks/profile_ssl_step.py runs its variants in fresh processes and
writes their ratios to the baseline (a tiny budget)."""

import json
import os
import subprocess
import sys

from tests.conftest import REPO_ROOT, subprocess_env

SCRIPT = os.path.join(REPO_ROOT, "benchmarks", "profile_ssl_step.py")


def test_variants_and_results(tmp_path):
    out = tmp_path / "p.json"
    proc = subprocess.run(
        [sys.executable, SCRIPT, "--steps", "1", "--batch-size", "8",
         "--variants", "baseline,intra1_inter1", "--results", str(out)],
        capture_output=True, text=True, timeout=600, env=subprocess_env(),
        cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    rows = json.load(open(out))["rows"]
    assert [r["variant"] for r in rows] == ["baseline", "intra1_inter1"]
    assert rows[0]["ratio_to_baseline"] == 1.0
    assert all(r["images_per_second"] > 0 and r["loss_finite"]
               for r in rows)
    assert "| intra1_inter1 |" in proc.stdout


def test_data_dir_without_cifar_falls_back_to_random_pixels(tmp_path):
    # What CI's clean clone sees: KZOO_DATA_DIR set to a folder without
    # CIFAR-10. The ready-batch variant runs on random pixels; the pipeline
    # variant, which needs the images, is reported as failed.
    out = tmp_path / "p.json"
    proc = subprocess.run(
        [sys.executable, SCRIPT, "--steps", "1", "--batch-size", "8",
         "--repeats", "1", "--variants", "baseline,pipeline", "--results",
         str(out)], capture_output=True, text=True, timeout=600,
        env=subprocess_env(KZOO_DATA_DIR=str(tmp_path / "empty")),
        cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    rows = json.load(open(out))["rows"]
    assert rows[0]["variant"] == "baseline"
    assert rows[0]["images_per_second"] > 0
    assert rows[1] == {"variant": "pipeline", "failed": True}


def test_unknown_variant_and_missing_data_are_errors(tmp_path):
    env = subprocess_env()
    env.pop("KZOO_DATA_DIR", None)
    for args, message in [(["--variants", "warp"], "unknown variants"),
                          (["--variants", "pipeline"], "--data-dir")]:
        proc = subprocess.run([sys.executable, SCRIPT, *args,
                               "--results", str(tmp_path / "r.json")],
                              capture_output=True, text=True, timeout=120,
                              env=env, cwd=REPO_ROOT)
        assert proc.returncode == 2 and message in proc.stderr
