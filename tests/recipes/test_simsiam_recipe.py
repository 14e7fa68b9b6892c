"""End-to-end tests of recipes/simsiam_cifar.py, each run in a fresh process."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests.conftest import REPO_ROOT, subprocess_env
from tests.recipes import helpers
from tests.recipes.helpers import read_history

RECIPE = helpers.recipe_path("simsiam_cifar.py")
# Small model and budget: these tests check wiring, not accuracy.
SMALL = ["--projection-dim", "64", "--predictor-dim", "16",
         "--probe-epochs", "1", "--feature-probe-epochs", "2", "--knn-k", "20"]


def run_recipe(args, **kwargs):
    return helpers.run_recipe("simsiam_cifar.py", args, **kwargs)


def test_digits_end_to_end_writes_everything(tmp_path):
    out, exp = str(tmp_path / "run"), str(tmp_path / "export")
    proc = run_recipe(["--dataset", "digits", "--limit", "256", "--epochs", "2",
                       "--batch-size", "64", "--output-dir", out,
                       "--export-dir", exp, *SMALL])
    metrics = json.load(open(os.path.join(out, "metrics.json")))
    for key in ("knn_accuracy", "linear_probe_accuracy", "feature_linear_probe_accuracy",
                "random_init_knn_accuracy", "random_init_linear_probe_accuracy"):
        assert 0.0 <= metrics[key] <= 1.0, key
    assert metrics["epochs_run_in_this_process"] == 2
    args = json.load(open(os.path.join(out, "args.json")))
    assert args["args"]["epochs"] == 2 and args["replicas"] == 1
    history = read_history(out)
    assert [r["epoch"] for r in history] == ["0", "1"]
    assert "knn_accuracy" in history[0] and -1 <= float(history[1]["loss"]) <= 1
    assert os.path.isfile(os.path.join(out, "checkpoints", "epoch_002.weights.h5"))
    assert os.listdir(os.path.join(out, "logs"))
    assert os.path.isfile(os.path.join(exp, "simsiam_digits", "1", "saved_model.pb"))
    config = open(os.path.join(exp, "models.config")).read()
    assert 'name: "simsiam_digits"' in config
    assert ":predict" in proc.stdout


def test_killed_run_resumes_at_epoch_2(tmp_path):
    out = str(tmp_path / "run")
    args = ["--dataset", "digits", "--limit", "192", "--epochs", "3",
            "--batch-size", "64", "--output-dir", out, "--export-dir", "",
            "--knn-every", "0", *SMALL]
    killed = run_recipe(args, env=subprocess_env(KZOO_FAULT_EXIT_AFTER_EPOCH=1),
                        check=False)
    assert killed.returncode == 75, killed.stderr[-3000:]
    assert [r["epoch"] for r in read_history(out)] == ["0"]
    assert not os.path.exists(os.path.join(out, "metrics.json"))
    resumed = run_recipe(args)
    # Not a terminal: kzoo.eval.ProgressLogger's lines, not Keras' bar.
    assert "epoch 2/3 done in" in resumed.stdout
    assert "epoch 1/3 done in" not in resumed.stdout
    assert [r["epoch"] for r in read_history(out)] == ["0", "1", "2"]
    metrics = json.load(open(os.path.join(out, "metrics.json")))
    assert metrics["epochs_run_in_this_process"] == 2
    # The resumed run saw the batches of an uninterrupted one (its sampler
    # starts at the backup's epoch, keyed on (seed, epoch)): the same
    # weights after the last epoch.
    whole = str(tmp_path / "whole")
    run_recipe([a if a != out else whole for a in args])
    resumed_w = _h5_arrays(os.path.join(out, "checkpoints",
                                        "epoch_003.weights.h5"))
    whole_w = _h5_arrays(os.path.join(whole, "checkpoints",
                                      "epoch_003.weights.h5"))
    assert resumed_w.keys() == whole_w.keys() and len(whole_w) > 10
    for name in whole_w:
        np.testing.assert_allclose(resumed_w[name], whole_w[name],
                                   rtol=1e-4, atol=1e-5, err_msg=name)


def _h5_arrays(path):
    import h5py

    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()])
                     if isinstance(obj, h5py.Dataset) else None)
    return out


def test_offline_without_data_dir_gives_a_message_not_a_traceback(tmp_path):
    helpers.assert_offline_message("simsiam_cifar.py", tmp_path)


@pytest.mark.parametrize("flags", [["--epochs", "0"], ["--strategy", "bogus"],
                                   ["--batch-size", "many"], ["--cpu-replicas", "0"],
                                   ["--dataset", "mnist"]])
def test_bad_flags_are_argparse_errors(flags):
    helpers.assert_usage_error("simsiam_cifar.py", flags)


def test_corrupt_jpeg_in_data_dir_is_skipped_and_counted(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "images"
    for split in ("train", "test"):
        for cls in ("a", "b"):
            d = root / split / cls
            d.mkdir(parents=True)
            for i in range(40):
                Image.fromarray(rng.integers(0, 256, (32, 32, 3)).astype("uint8")).save(
                    d / f"{i:03d}.jpg")
    (root / "train" / "a" / "007.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    out = str(tmp_path / "run")
    proc = run_recipe(["--data-dir", str(root), "--epochs", "1", "--batch-size", "32",
                       "--output-dir", out, "--export-dir", "", *SMALL])
    assert "skipped 1 of 80 files" in proc.stderr and "007.jpg" in proc.stderr
    metrics = json.load(open(os.path.join(out, "metrics.json")))
    assert metrics["train_images"] == 79


def test_real_cifar10_smoke(cifar_dir, tmp_path):
    out = str(tmp_path / "run")
    run_recipe(["--data-dir", cifar_dir, "--limit", "256", "--epochs", "1",
                "--batch-size", "128", "--output-dir", out, "--export-dir", "",
                *SMALL])
    metrics = json.load(open(os.path.join(out, "metrics.json")))
    assert metrics["train_images"] == 256 and metrics["test_images"] == 256
    assert np.isfinite(metrics["final_loss"])


def _weights(path):
    import h5py

    values = []
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: values.append((name, obj[()]))
                     if isinstance(obj, h5py.Dataset) else None)
    return dict(values)


def test_first_step_same_under_one_and_two_cpu_replicas(tmp_path):
    common = ["--dataset", "digits", "--limit", "64", "--epochs", "1",
              "--batch-size", "64", "--export-dir", "", "--knn-every", "0",
              "--sync-bn", *SMALL]
    one, two = str(tmp_path / "one"), str(tmp_path / "two")
    # Both runs go through Keras' distributed path (a 1-replica
    # MirroredStrategy vs 2 replicas): under any tf.distribute strategy,
    # Keras 3 draws one batch from an extra iterator to build the model,
    # which advances the seeded augmentation stream by one iteration
    # compared with the no-strategy path.
    run_recipe(common + ["--output-dir", one, "--strategy", "mirrored"])
    proc = run_recipe(common + ["--output-dir", two, "--cpu-replicas", "2"])
    assert "2 replicas" in proc.stdout
    loss1 = float(read_history(one)[0]["loss"])
    loss2 = float(read_history(two)[0]["loss"])
    assert loss1 == pytest.approx(loss2, rel=1e-4, abs=1e-5)
    w1 = _weights(os.path.join(one, "checkpoints", "epoch_001.weights.h5"))
    w2 = _weights(os.path.join(two, "checkpoints", "epoch_001.weights.h5"))
    assert w1.keys() == w2.keys() and len(w1) > 10
    # Float32 all-reduces and synchronised batch statistics sum in another
    # order than one device does. Measured here: max |difference| 1.8e-5 and
    # relative norm 3e-6 with synchronised BN; 4e-2 and 2e-3 without.
    v1 = np.concatenate([w1[k].ravel() for k in sorted(w1)])
    v2 = np.concatenate([w2[k].ravel() for k in sorted(w1)])
    assert np.abs(v1 - v2).max() < 2e-4
    assert np.linalg.norm(v1 - v2) / np.linalg.norm(v1) < 5e-5


def _free_port():
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_two_worker_multiworker_run_on_localhost(tmp_path):
    ports = [_free_port(), _free_port()]
    out, exp = str(tmp_path / "run"), str(tmp_path / "export")
    procs = []
    for index in range(2):
        tf_config = {"cluster": {"worker": [f"localhost:{p}" for p in ports]},
                     "task": {"type": "worker", "index": index}}
        env = subprocess_env(TF_CONFIG=json.dumps(tf_config))
        procs.append(subprocess.Popen(
            [sys.executable, RECIPE, "--dataset", "digits", "--limit", "128",
             "--epochs", "1", "--batch-size", "64", "--strategy", "multiworker",
             "--output-dir", out, "--export-dir", exp, "--knn-every", "0", *SMALL],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
            cwd=REPO_ROOT))
    try:
        results = [p.communicate(timeout=300) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, (stdout, stderr) in zip(procs, results):
        assert p.returncode == 0, stderr[-5000:]
        assert "MultiWorkerMirroredStrategy with 2 replicas" in stdout
    # the chief writes the run directory and the export; worker 1 its scratch dir
    assert os.path.isfile(os.path.join(out, "metrics.json"))
    assert os.path.isdir(os.path.join(out, "worker_1"))
    assert os.path.isfile(os.path.join(exp, "simsiam_digits", "1", "saved_model.pb"))
    metrics = json.load(open(os.path.join(out, "metrics.json")))
    assert metrics["replicas"] == 2
