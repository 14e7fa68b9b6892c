"""The two-view self-supervised recipes under Keras' JAX backend, where
`import tensorflow` fails (as on a machine without it): kzoo.arrays input,
views drawn in the training step, kNN and probes, `backbone.keras` and the
command that exports it."""

import json
import os

import numpy as np
import pytest

from tests.conftest import subprocess_env
from tests.recipes import helpers

pytest.importorskip("jax")

# Small heads and budget: these tests check wiring, not accuracy.
EVAL = ["--feature-probe-epochs", "2", "--knn-k", "20"]
SMALL = {
    "simsiam_cifar.py": ["--projection-dim", "64", "--predictor-dim", "16",
                         "--probe-epochs", "1"],
    "simclr_cifar.py": ["--projection-dim", "16"],
    "barlow_twins_cifar.py": ["--projection-dim", "32"],
    "nnclr_cifar.py": ["--projection-dim", "16", "--queue-size", "100"],
}


def _check_run(proc, out, export_dir, model_name, probe=False,
               backend="jax"):
    assert proc.stdout.rstrip().endswith("tensorflow loaded: False")
    assert f"{backend} backend, SingleDeviceStrategy with 1 replica" in (
        proc.stdout)
    assert f"note: no TensorBoard logs under the {backend} backend" in (
        proc.stdout)
    metrics = helpers.read_metrics(out)
    keys = ["knn_accuracy", "feature_linear_probe_accuracy"]
    keys += ["linear_probe_accuracy"] if probe else []
    for key in keys:
        assert 0.0 <= metrics[key] <= 1.0, key
        assert 0.0 <= metrics["random_init_" + key] <= 1.0, key
    assert np.isfinite(metrics["final_loss"])
    assert metrics["strategy"] == "SingleDeviceStrategy"
    args = json.load(open(os.path.join(out, "args.json")))
    assert args["backend"] == backend
    assert args["args"]["jit"] is (backend == "jax")
    assert [r["epoch"] for r in helpers.read_history(out)] == ["0"]
    assert os.path.isfile(os.path.join(out, "checkpoints",
                                       "epoch_001.weights.h5"))
    assert not os.path.exists(os.path.join(out, "logs"))
    # The trained backbone, and the command that exports it (not run).
    assert metrics["backbone"] == os.path.join(out, "backbone.keras")
    assert os.path.isfile(metrics["backbone"])
    assert metrics["export_command"] == (
        "KERAS_BACKEND=tensorflow python -m kzoo.export embedding "
        f"{metrics['backbone']} --export-dir {export_dir} "
        f"--model-name {model_name}")
    assert metrics["export_command"] in proc.stdout
    assert not os.path.exists(export_dir)
    return metrics


def test_simsiam_under_jax_without_tensorflow_on_real_cifar10(cifar_dir,
                                                               tmp_path):
    out, exp = str(tmp_path / "run"), str(tmp_path / "export")
    proc = helpers.run_recipe_without_tensorflow(
        "simsiam_cifar.py",
        ["--data-dir", cifar_dir, "--limit", "128", "--epochs", "1",
         "--batch-size", "64", "--output-dir", out, "--export-dir", exp,
         *SMALL["simsiam_cifar.py"], *EVAL])
    metrics = _check_run(proc, out, exp, "simsiam_cifar10", probe=True)
    assert metrics["train_images"] == 128 and metrics["test_images"] == 128
    assert metrics["epochs_run_in_this_process"] == 1
    assert "result: kNN" in proc.stdout


@pytest.mark.parametrize("recipe, prefix", [
    ("simclr_cifar.py", "simclr"), ("barlow_twins_cifar.py", "barlow_twins"),
    ("nnclr_cifar.py", "nnclr")])
def test_two_view_recipe_under_jax_without_tensorflow(recipe, prefix,
                                                      tmp_path):
    out, exp = str(tmp_path / "run"), str(tmp_path / "export")
    proc = helpers.run_recipe_without_tensorflow(
        recipe, ["--dataset", "digits", "--limit", "64", "--epochs", "1",
                 "--batch-size", "32", "--output-dir", out,
                 "--export-dir", exp, *SMALL[recipe], *EVAL])
    _check_run(proc, out, exp, f"{prefix}_digits")


def test_simsiam_under_torch_without_tensorflow(tmp_path):
    pytest.importorskip("torch")
    out, exp = str(tmp_path / "run"), str(tmp_path / "export")
    proc = helpers.run_recipe_without_tensorflow(
        "simsiam_cifar.py",
        ["--dataset", "digits", "--limit", "64", "--epochs", "1",
         "--batch-size", "32", "--output-dir", out, "--export-dir", exp,
         *SMALL["simsiam_cifar.py"], *EVAL], backend="torch")
    _check_run(proc, out, exp, "simsiam_digits", probe=True,
               backend="torch")


@pytest.mark.parametrize("flags, message", [
    (["--strategy", "mirrored"], "needs the TensorFlow backend"),
    # No --data-dir: TFDS, which needs TensorFlow (exit 2, as offline).
    (["--dataset", "cifar10"], "needs tensorflow-datasets and TensorFlow"),
])
def test_tensorflow_only_options_are_refused_clearly(flags, message,
                                                     tmp_path):
    env = subprocess_env()
    env.pop("KZOO_DATA_DIR", None)
    proc = helpers.run_recipe_without_tensorflow(
        "simsiam_cifar.py", ["--dataset", "digits", "--limit", "64",
                             "--output-dir", str(tmp_path / "o"), *flags],
        env=env, check=False, timeout=120)
    assert proc.returncode in (1, 2), proc.stderr[-3000:]
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_backend_flag_a_recipe_does_not_apply_is_an_error(tmp_path):
    """A recipe imported as a module (its `__main__` prelude that applies
    `--backend` does not run) after Keras was imported on TensorFlow: a
    different --backend stops it with a message."""
    import subprocess
    import sys

    code = ("import sys; sys.path.insert(0, 'recipes'); import rotation_cifar;"
            f" rotation_cifar.main(['--backend', 'jax', '--dataset', "
            f"'digits', '--output-dir', {str(tmp_path / 'o')!r}])")
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True,
        timeout=120, env=subprocess_env(KERAS_BACKEND="tensorflow"),
        cwd=helpers.REPO_ROOT)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "set KERAS_BACKEND=jax" in proc.stderr.replace("Set", "set")


def test_data_parallel_over_two_cpu_devices_matches_one_device(tmp_path):
    """`--cpu-replicas 2` under JAX: keras.distribution.DataParallel over two
    CPU devices. The first epoch's loss and weights match one device (the
    same views: the seeds do not depend on the sharding), and the
    evaluations run on sizes that do not split in two (33 images)."""
    common = ["--dataset", "digits", "--limit", "33", "--epochs", "1",
              "--batch-size", "32", "--export-dir", "", "--knn-every", "0",
              *SMALL["simsiam_cifar.py"], *EVAL]
    one, two = str(tmp_path / "one"), str(tmp_path / "two")
    helpers.run_recipe_without_tensorflow(
        "simsiam_cifar.py", common + ["--output-dir", one])
    proc = helpers.run_recipe_without_tensorflow(
        "simsiam_cifar.py", common + ["--output-dir", two,
                                      "--cpu-replicas", "2"])
    assert ("DataParallelStrategy with 2 replicas (cpu:0, cpu:1); global "
            "batch 32 = 16 per replica") in proc.stdout
    metrics = helpers.read_metrics(two)
    assert metrics["replicas"] == 2 and metrics["strategy"] == (
        "DataParallelStrategy")
    assert 0.0 <= metrics["knn_accuracy"] <= 1.0
    loss1 = float(helpers.read_history(one)[0]["loss"])
    loss2 = float(helpers.read_history(two)[0]["loss"])
    assert loss1 == pytest.approx(loss2, rel=1e-4, abs=1e-6)
    import h5py

    def weights(run):
        values = {}
        path = os.path.join(run, "checkpoints", "epoch_001.weights.h5")
        with h5py.File(path, "r") as f:
            f.visititems(lambda name, obj: values.__setitem__(name, obj[()])
                         if isinstance(obj, h5py.Dataset) else None)
        return values

    w1, w2 = weights(one), weights(two)
    assert w1.keys() == w2.keys() and len(w1) > 10
    v1 = np.concatenate([np.ravel(w1[k]) for k in sorted(w1)]).astype(float)
    v2 = np.concatenate([np.ravel(w2[k]) for k in sorted(w1)]).astype(float)
    # Measured here: max |difference| 4.9e-6, relative norm 4.8e-7 (float
    # sums in another order; over more steps the gap grows, 1e-4 after 3).
    assert np.abs(v1 - v2).max() < 1e-4
    assert np.linalg.norm(v1 - v2) / np.linalg.norm(v1) < 1e-5
