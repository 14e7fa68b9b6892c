"""benchmarks/ssl_table.py: runs recipes, saves each result, resumes, and
writes the README table and the chart (tiny budget on digits)."""

import json
import os
import subprocess
import sys

from PIL import Image

from tests.conftest import REPO_ROOT, subprocess_env

SCRIPT = os.path.join(REPO_ROOT, "benchmarks", "ssl_table.py")


def run(args, tmp_path):
    proc = subprocess.run(
        [sys.executable, SCRIPT, "--dataset", "digits", "--limit", "96",
         "--epochs", "1", "--batch-size", "32",
         "--results", str(tmp_path / "results.json"),
         "--runs-dir", str(tmp_path / "runs"), *args],
        capture_output=True, text=True, timeout=600, env=subprocess_env(),
        cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def test_saves_resumes_and_reports(tmp_path):
    out = run(["--methods", "denoising", "--seeds", "3"], tmp_path)
    results = json.load(open(tmp_path / "results.json"))
    assert [(r["method"], r["seed"]) for r in results] == [("denoising", 3)]
    r = results[0]
    metrics = json.load(open(
        tmp_path / "runs" / "digits_limit96_epochs1_batch32" / "denoising_s3"
        / "metrics.json"))
    assert r["knn"] == metrics["knn_accuracy"]
    assert r["random_init_knn"] == metrics["random_init_knn_accuracy"]
    assert r["test_images"] == 96 and len(r["loss_by_epoch"]) == 1
    assert "| denoising | 3 |" in out
    # Resumed: the finished run is skipped, not trained again.
    out = run(["--methods", "denoising", "--seeds", "3"], tmp_path)
    assert "denoising seed 3: done, skipped" in out
    assert len(json.load(open(tmp_path / "results.json"))) == 1
    # --report rebuilds the table and the chart from the results alone.
    name = "ssl_table_digits_limit96_epochs1_batch32"
    os.remove(tmp_path / f"{name}.md")
    out = run(["--report"], tmp_path)
    table = open(tmp_path / f"{name}.md").read()
    assert "| random init (same backbone) |" in table
    assert f"{100 * r['knn']:.2f}" in table
    assert Image.open(tmp_path / f"{name}.png").size[0] == 640



def test_recipe_args_and_tag_make_their_own_budget(tmp_path):
    out = run(["--methods", "denoising", "--seeds", "3", "--recipe-args",
               "--learning-rate 0.5", "--tag", "lr05"], tmp_path)
    r = json.load(open(tmp_path / "results.json"))[0]
    assert r["budget"] == "digits_limit96_epochs1_batch32_lr05"
    assert r["recipe_args"] == "--learning-rate 0.5"
    args = json.load(open(
        tmp_path / "runs" / r["budget"] / "denoising_s3" / "args.json"))
    assert args["args"]["learning_rate"] == 0.5
    table = open(tmp_path / f"ssl_table_{r['budget']}.md").read()
    assert "--recipe-args '--learning-rate 0.5' --tag lr05" in table
    assert "| denoising | 3 |" in out


def test_unknown_method_is_an_error(tmp_path):
    proc = subprocess.run(
        [sys.executable, SCRIPT, "--methods", "byol", "--results",
         str(tmp_path / "r.json")], capture_output=True, text=True,
        timeout=120, env=subprocess_env(), cwd=REPO_ROOT)
    assert proc.returncode == 2 and "unknown method 'byol'" in proc.stderr
