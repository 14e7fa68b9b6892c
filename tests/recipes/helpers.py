"""Shared helpers of the recipe tests: run a recipe in a fresh process."""

import csv
import json
import os
import subprocess
import sys

from tests.conftest import REPO_ROOT, subprocess_env


def recipe_path(name):
    return os.path.join(REPO_ROOT, "recipes", name)


def run_recipe(recipe, args, timeout=300, env=None, check=True):
    """Runs `recipes/<recipe>` with `args`; raises with its output on failure."""
    proc = subprocess.run(
        [sys.executable, recipe_path(recipe), *args], capture_output=True,
        text=True, timeout=timeout, env=env or subprocess_env(), cwd=REPO_ROOT)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{recipe} exited {proc.returncode}\nSTDOUT:\n{proc.stdout[-3000:]}"
            f"\nSTDERR:\n{proc.stderr[-5000:]}")
    return proc


def read_history(out):
    return read_history_file(out, "history.csv")


def read_history_file(out, name):
    with open(os.path.join(out, name)) as f:
        return list(csv.DictReader(f))


def read_metrics(out):
    with open(os.path.join(out, "metrics.json")) as f:
        return json.load(f)


def assert_exported(export_dir, model_name):
    """The TF Serving layout: version 1 and a models.config naming it."""
    assert os.path.isfile(
        os.path.join(export_dir, model_name, "1", "saved_model.pb"))
    config = open(os.path.join(export_dir, "models.config")).read()
    assert f'name: "{model_name}"' in config


def assert_offline_message(recipe, tmp_path):
    """Offline without --data-dir: exit 2 and a message, not a traceback."""
    env = subprocess_env(TFDS_DATA_DIR=str(tmp_path / "tfds"))
    env.pop("KZOO_DATA_DIR", None)
    proc = run_recipe(recipe, ["--epochs", "1", "--output-dir",
                               str(tmp_path / "o")],
                      env=env, check=False, timeout=120)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "--data-dir" in proc.stderr and "Traceback" not in proc.stderr


def assert_no_data_message(recipe, tmp_path):
    """A recipe whose data has no download (no TFDS copy): without
    --data-dir / KZOO_DATA_DIR it exits 2 with a message, not a traceback."""
    env = subprocess_env()
    env.pop("KZOO_DATA_DIR", None)
    proc = run_recipe(recipe, ["--epochs", "1", "--output-dir",
                               str(tmp_path / "o")],
                      env=env, check=False, timeout=120)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "--data-dir" in proc.stderr and "Traceback" not in proc.stderr


def assert_usage_error(recipe, flags):
    proc = run_recipe(recipe, flags, check=False, timeout=60)
    assert proc.returncode == 2 and "usage:" in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr


def run_recipe_without_tensorflow(recipe, args, backend="jax", timeout=600,
                                  env=None, check=True):
    """Runs `recipes/<recipe> --backend BACKEND ARGS` where `import
    tensorflow` fails (as on a machine without it), the way `python
    recipes/<recipe>` runs it (its folder first on `sys.path`). The last
    stdout line says whether TensorFlow got loaded: `tensorflow loaded:
    False`."""
    from tests.test_backends import BLOCK_TENSORFLOW

    path = recipe_path(recipe)
    code = BLOCK_TENSORFLOW + (
        "import os, runpy\n"
        f"sys.argv = [{path!r}, '--backend', {backend!r}, *{list(args)!r}]\n"
        f"sys.path.insert(0, {os.path.dirname(path)!r})\n"
        "try:\n"
        "    runpy.run_path(sys.argv[0], run_name='__main__')\n"
        "finally:\n"
        "    print('tensorflow loaded:', 'tensorflow' in sys.modules)\n")
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True,
        timeout=timeout, env=env or subprocess_env(), cwd=REPO_ROOT)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{recipe} --backend {backend} exited {proc.returncode}\n"
            f"STDOUT:\n{proc.stdout[-3000:]}\nSTDERR:\n{proc.stderr[-5000:]}")
    return proc
