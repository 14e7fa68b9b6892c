"""benchmarks/bench_backends.py: one worker process per Keras backend, the
same initial weights everywhere (so the first-step losses agree), ratios to
TensorFlow, skipped backends reported as such (tiny budgets).

The real-process tests run the backends installed here; the cheap one
(TensorFlow and PyTorch, ~35 s on 2 busy cores) is always on, all three
backends with both variants (JAX's build and XLA compile add ~40 s on 2
busy cores) only with KZOO_SLOW=1. The parent's bookkeeping (skips, an
unsupported variant, ratios) is tested in-process with fake workers."""

import importlib.util
import json
import math
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT, subprocess_env

SCRIPT = os.path.join(REPO_ROOT, "benchmarks", "bench_backends.py")
TINY = ["--steps", "1", "--warmup", "1", "--rounds", "1", "--batch-size",
        "4", "--image-size", "8", "--threads", "1"]


def load_script():
    spec = importlib.util.spec_from_file_location("bench_backends", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def installed(backends):
    bench = load_script()
    return [b for b in backends if bench.missing_module(b) is None]


def run_script(tmp_path, *args, timeout=600):
    out = tmp_path / "b.json"
    proc = subprocess.run(
        [sys.executable, SCRIPT, *TINY, *args, "--results", str(out)],
        capture_output=True, text=True, timeout=timeout,
        env=subprocess_env(), cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.load(open(out)), proc.stdout


def check_result(result, stdout, backends, variants):
    assert result["config"]["batch_size"] == 4
    assert result["machine"]["cpu_count"] == os.cpu_count()
    assert result["baseline"] == "tensorflow"
    rows = result["rows"]
    assert [(r["variant"], r["backend"]) for r in rows] == [
        (v, b) for v in variants for b in backends]
    for r in rows:
        assert "failed" not in r and "skipped" not in r, r
        assert r["timed_steps"] == 1 and r["rounds"] == 1
        assert 0 < r["min_step_seconds"] <= r["median_step_seconds"]
        assert math.isclose(r["images_per_second"],
                            4 / r["median_step_seconds"])
        assert r["loss_finite"] and math.isfinite(r["first_loss"])
        assert r["threads"]["requested"] == 1
        # Keras' "auto": XLA on JAX only (on a CPU-only machine).
        assert r["jit_compile"] == (r["backend"] == "jax")
        base = next(b for b in rows if b["variant"] == r["variant"]
                    and b["backend"] == "tensorflow")
        assert math.isclose(r["ratio_to_tensorflow"],
                            r["images_per_second"]
                            / base["images_per_second"])
    # The first worker saved the initial weights, the others loaded them.
    views = [r for r in rows if r["variant"] == "two_views"]
    assert [r["initial_weights"] for r in views] == \
        [["saved"]] + [["loaded"]] * (len(views) - 1)
    agreement = result["first_loss_agreement"]["two_views"]
    assert agreement["comparable"]
    assert set(agreement["first_losses"]) == set(backends)
    # Same weights, same pixels: float32 round-off only (~1e-7 seen).
    assert agreement["max_abs_diff"] < 1e-4, agreement
    assert "| two_views | tensorflow | False |" in stdout
    assert "KERAS_BACKEND=tensorflow python benchmarks/bench_backends.py" \
        in stdout
    assert result["command"].startswith("python benchmarks/bench_backends.py")


def test_tensorflow_and_torch_tiny(tmp_path):
    backends = installed(["tensorflow", "torch"])
    if len(backends) < 2:
        pytest.skip(f"needs TensorFlow and PyTorch; installed: {backends}")
    result, stdout = run_script(tmp_path, "--backends", ",".join(backends),
                                "--variants", "two_views")
    check_result(result, stdout, backends, ["two_views"])


@pytest.mark.slow
def test_every_installed_backend_both_variants(tmp_path):
    backends = installed(["tensorflow", "jax", "torch"])
    if "tensorflow" not in backends or len(backends) < 2:
        pytest.skip(f"needs TensorFlow and another backend: {backends}")
    result, stdout = run_script(tmp_path, "--backends", ",".join(backends),
                                timeout=1200)
    rows = result["rows"]
    if any(r.get("skipped", "").startswith("kzoo.models") for r in rows):
        # This kzoo has no `augmentation=` yet: that variant is skipped on
        # every backend, with the reason; the other is checked in full.
        assert all("skipped" in r for r in rows
                   if r["variant"] == "augment_in_step")
        result["rows"] = [r for r in rows if r["variant"] == "two_views"]
        check_result(result, stdout, backends, ["two_views"])
        return
    check_result(result, stdout, backends, ["two_views", "augment_in_step"])
    for r in rows:
        if r["variant"] == "augment_in_step":
            assert r["ratio_to_two_views"] > 0
    assert not result["first_loss_agreement"]["augment_in_step"][
        "comparable"]


def fake_worker(unsupported=()):
    def run_worker(args, backend, variant, init_weights):
        if variant in unsupported:
            return {"backend": backend, "variant": variant,
                    "skipped": "no augmentation", "variant_unsupported": True}
        step = {"tensorflow": 0.5, "jax": 0.25, "torch": 1.0}[backend]
        return {"backend": backend, "variant": variant, "version": "x",
                "jit_compile": backend == "jax", "threads": {},
                "first_step_seconds": 9.0, "first_loss": 0.1,
                "last_loss": 0.0, "loss_finite": True,
                "initial_weights": "loaded",
                "step_seconds": [step, step * 2, step]}
    return run_worker


def test_skipped_backend_and_unsupported_variant(tmp_path, monkeypatch,
                                                 capsys):
    bench = load_script()
    calls = []
    worker = fake_worker(unsupported=("augment_in_step",))
    monkeypatch.setattr(bench, "missing_module", lambda b: (
        "jax is not installed" if b == "jax" else None))
    monkeypatch.setattr(bench, "run_worker", lambda *a: (
        calls.append(a[1:3]) or worker(*a)))
    out = tmp_path / "b.json"
    bench.main(["--rounds", "2", "--results", str(out)])
    result = json.load(open(out))
    rows = {(r["variant"], r["backend"]): r for r in result["rows"]}
    # jax never launched; the unsupported variant stops after one worker.
    assert calls == [("tensorflow", "two_views"), ("torch", "two_views")] * 2 \
        + [("tensorflow", "augment_in_step")]
    assert rows["two_views", "jax"] == {
        "variant": "two_views", "backend": "jax",
        "skipped": "jax is not installed"}
    assert rows["augment_in_step", "torch"]["skipped"] == "no augmentation"
    tf, torch = rows["two_views", "tensorflow"], rows["two_views", "torch"]
    assert tf["median_step_seconds"] == 0.5 and tf["min_step_seconds"] == 0.5
    assert tf["timed_steps"] == 6 and tf["rounds"] == 2
    assert tf["ratio_to_tensorflow"] == 1.0
    assert torch["ratio_to_tensorflow"] == 0.5
    assert torch["images_per_second"] == 128
    assert "skipped: jax is not installed" in capsys.readouterr().out


def test_bad_arguments(tmp_path):
    for args, message in [(["--backends", "mxnet"], "unknown or no"),
                          (["--variants", "warp"], "unknown or no"),
                          (["--steps", "0"], "must be positive")]:
        proc = subprocess.run([sys.executable, SCRIPT, *args, "--results",
                               str(tmp_path / "r.json")],
                              capture_output=True, text=True, timeout=60,
                              env=subprocess_env(), cwd=REPO_ROOT)
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr
