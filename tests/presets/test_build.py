"""`python -m kzoo.presets train` / `build`: a recipe run becomes a preset
whose card is complete and re-measured from the saved file (a tiny
siamese run on scikit-learn's digits: no data directory needed)."""

import copy
import json
import os

import numpy as np
import pytest

from kzoo import presets
from kzoo.presets import build as build_lib
from kzoo.presets import measure

NAME = "siamese_smallcnn_digits"
TINY = ["--limit", "120", "--epochs", "2", "--val-fraction", "0.5"]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("presets")
    runs_dir, root = str(tmp / "runs"), str(tmp / "root")
    saved = build_lib.SPECS[NAME]
    build_lib.SPECS[NAME] = {**copy.deepcopy(saved), "train_args": TINY}
    old_root = presets.ROOT
    try:
        code = build_lib.train(NAME, data_dir=str(tmp / "no_data"),
                               runs_dir=runs_dir)
        assert code == 0, open(os.path.join(runs_dir, f"{NAME}.log")).read()
        presets.ROOT = root
        card = build_lib.build(NAME, os.path.join(runs_dir, NAME),
                               out_root=root)
        yield {"card": card, "run": os.path.join(runs_dir, NAME),
               "root": root, "runs_dir": runs_dir}
    finally:
        build_lib.SPECS[NAME] = saved
        presets.ROOT = old_root


@pytest.fixture
def as_shipped(built, monkeypatch):
    monkeypatch.setattr(presets, "ROOT", built["root"])
    return built


def test_train_records_wall_time_commit_and_log(built):
    times = json.load(open(os.path.join(built["run"], "wall_times.json")))
    assert len(times) == 1 and times[0]["exit_code"] == 0
    assert times[0]["seconds"] > 0 and "cores" in times[0]["cpu"]
    log = open(os.path.join(built["runs_dir"], f"{NAME}.log")).read()
    assert "$ " in log and "siamese_contrastive.py" in log
    assert os.path.isfile(os.path.join(built["run"], "commit.txt"))


def test_card_fields(built):
    card = built["card"]
    assert card["name"] == NAME and card["task"] == "pair_verification"
    assert card["command"].startswith("python recipes/siamese_contrastive.py")
    assert "--epochs 2" in card["command"]
    assert card["wall_time_seconds"] == pytest.approx(json.load(open(
        os.path.join(built["run"], "wall_times.json")))[0]["seconds"])
    assert card["precision"] == "float32" and card["seed"] == 0
    assert card["verification"]["threshold"] > 0
    assert card["headline"]["metric"] == "verification_accuracy"
    assert card["headline"]["value"] == card["remeasure"]["full"][
        "verification_accuracy"]
    assert card["target"]["met"] == (card["headline"]["value"] >= 0.96)
    for row in card["metrics"]:
        assert row["baseline"] is not None
    assert set(card["files"]) == {"model.keras"}


def test_built_preset_loads_verifies_and_remeasures(as_shipped):
    assert presets.names() == [NAME]
    card = presets.verify(NAME)
    model = presets.load(NAME)
    assert model.output.shape[-1] == 10
    found = measure.measure(NAME, "ci")
    assert found["verification_accuracy"] == pytest.approx(
        card["remeasure"]["ci"]["verification_accuracy"], abs=1e-9)
    assert found["pairs"] == 718


def test_run_and_preset_embeddings_agree(as_shipped):
    """The preset is the run's tower (float32): same embeddings."""
    import keras

    backbone = keras.saving.load_model(
        os.path.join(as_shipped["run"], "backbone.keras"))
    x = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype(
        "float32")
    np.testing.assert_allclose(presets.load(NAME).predict(x, verbose=0),
                               backbone.predict(x, verbose=0), atol=1e-6)


def test_resume_on_another_commit_is_refused(built, monkeypatch):
    with open(os.path.join(built["run"], "commit.txt"), "w") as f:
        f.write("0" * 40 + "\n")
    with pytest.raises(SystemExit, match="was started at kzoo commit"):
        build_lib.train(NAME, data_dir="x", runs_dir=built["runs_dir"])


def test_unknown_spec():
    with pytest.raises(presets.PresetError, match="no spec for preset"):
        build_lib.build("nope", "/nonexistent")


def test_training_code_changes_decides_resume(tmp_path):
    """A run may resume at another commit only when no code the training
    runs changed: the presets' files, the CLI, tests and docs do not count."""
    import subprocess

    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True,
                       capture_output=True)

    git("init", "-q")
    git("config", "user.email", "t@example.com")
    git("config", "user.name", "t")
    for path in ("kzoo/losses.py", "kzoo/presets/files/a/card.json",
                 "recipes/r.py", "README.md"):
        os.makedirs(os.path.dirname(tmp_path / path) or tmp_path,
                    exist_ok=True)
        (tmp_path / path).write_text("v1\n")
    git("add", "-A")
    git("commit", "-qm", "one")
    base = subprocess.run(["git", "-C", str(tmp_path), "rev-parse", "HEAD"],
                          capture_output=True, text=True).stdout.strip()
    (tmp_path / "README.md").write_text("v2\n")
    (tmp_path / "kzoo/presets/files/a/card.json").write_text("v2\n")
    assert build_lib.training_code_changes(str(tmp_path), base) == []
    assert build_lib.training_code_changes(
        str(tmp_path), base + "+uncommitted") == []
    (tmp_path / "recipes/r.py").write_text("v2\n")
    assert build_lib.training_code_changes(str(tmp_path), base) == [
        "recipes/r.py"]
    assert build_lib.training_code_changes(str(tmp_path), "0" * 40) == [
        "<unknown>"]
