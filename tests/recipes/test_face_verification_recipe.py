"""Tests of recipes/face_verification.py: one tiny end-to-end run on the
real faces in a fresh process, the split by person on the whole data, and
the flags."""

import importlib.util
import os

import numpy as np
import pytest

from tests.conftest import datasets_root
from tests.recipes import helpers

NAME = "face_verification.py"
PREFIXES = ("", "random_init_", "pixels_")


def facial_root():
    path = os.path.join(datasets_root(), "facial_keypoints")
    if not os.path.isfile(os.path.join(path, "training_keypoints.csv")):
        pytest.skip(f"facial_keypoints not found at {path} (set KZOO_DATA_DIR)")
    return datasets_root()


@pytest.fixture(scope="module")
def recipe():
    spec = importlib.util.spec_from_file_location(
        "face_verification_recipe", helpers.recipe_path(NAME))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    root = facial_root()
    tmp = tmp_path_factory.mktemp("faces")
    out, exp = str(tmp / "run"), str(tmp / "export")
    proc = helpers.run_recipe(NAME, [
        "--data-dir", root, "--limit", "400", "--image-size", "24",
        "--epochs", "2", "--eval-every", "1", "--people-per-batch", "8",
        "--faces-per-person", "2", "--png-pairs", "4", "--output-dir", out,
        "--export-dir", exp], timeout=300)
    return {"out": out, "export": exp, "stdout": proc.stdout}


def test_end_to_end_metrics_pairs_png_and_export(tiny_run):
    from PIL import Image

    m = helpers.read_metrics(tiny_run["out"])
    assert m["train_faces"] + m["val_faces"] + m["test_faces"] == 400
    assert m["global_batch_size"] == 16 and m["epochs_run_in_this_process"] == 2
    assert m["test_similar_pairs"] == m["test_dissimilar_pairs"] > 0
    for prefix in PREFIXES:
        for key in ("verification_accuracy", "roc_auc",
                    "val_verification_accuracy", "recall_at_1",
                    "recall_at_5", "map_at_r"):
            assert 0.0 <= m[prefix + key] <= 1.0, prefix + key
        assert np.isfinite(m[prefix + "threshold"])
        assert m[prefix + "recall_at_1"] <= m[prefix + "recall_at_5"]
    # unit-norm embeddings: distances and so thresholds are at most 2
    assert 0.0 <= m["threshold"] <= 2.0
    assert np.isfinite(m["final_loss"]) and m["final_loss"] >= 0
    history = helpers.read_history(tiny_run["out"])
    assert len(history) == 2
    assert {"loss", "active_triplet_fraction", "val_roc_auc",
            "val_recall_at_1"} <= set(history[0])
    with Image.open(m["pairs_png"]) as image:
        assert image.width > 2 * 24 and image.height > 24
    helpers.assert_exported(tiny_run["export"], "face_verification")
    assert "verification accuracy" in tiny_run["stdout"]


def test_split_by_person_on_the_whole_data(recipe):
    from kzoo import data

    faces = data.load_face_identities(facial_root(), size=8)
    train, val, test = recipe.split_people(faces, 0.2, 0.15)
    people = [set(s.names) for s in (train, val, test)]
    assert not (people[0] & people[1] or people[0] & people[2]
                or people[1] & people[2])
    assert sum(len(p) for p in people) == 347
    assert len(train.images) + len(val.images) + len(test.images) == 3462
    # the people landmarks_faces.py holds out (kzoo.data.held_out_people)
    assert people[2] == set(data.held_out_people(faces.file_names, 0.2))
    assert len(people[2]) == 69 and len(people[1]) == 42
    # every test person has several videos: similar pairs exist for each
    for p in range(len(test.names)):
        assert len(set(test.videos[test.people == p].tolist())) >= 3


def test_pixel_baseline_is_centred_and_unit_norm(recipe):
    images = np.random.default_rng(0).integers(0, 256, (5, 4, 4, 3), np.uint8)
    e = recipe.pixel_embeddings(images)
    assert e.shape == (5, 48) and e.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(e.mean(axis=1), 0.0, atol=1e-7)
    # brightness and contrast do not change it
    brighter = np.clip(images.astype(int) // 2 + 60, 0, 255).astype(np.uint8)
    np.testing.assert_allclose(recipe.pixel_embeddings(brighter), e,
                               atol=0.02)


@pytest.mark.parametrize("flags", [
    ["--faces-per-person", "1"], ["--people-per-batch", "0"],
    ["--holdout-people", "0"], ["--val-people", "1.0"], ["--margin", "-1"],
    ["--distance", "l1"], ["--dataset", "cifar10"], ["--image-size", "0"],
])
def test_bad_flags_are_usage_errors(recipe, flags, capsys):
    with pytest.raises(SystemExit) as e:
        recipe.parse_args(flags)
    assert e.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_batch_size_must_match_p_times_k(recipe, capsys):
    with pytest.raises(SystemExit) as e:
        recipe.main(["--people-per-batch", "4", "--faces-per-person", "3",
                     "--batch-size", "10", "--data-dir", facial_root()])
    assert e.value.code == 2
    assert "4 x 3 x 1 = 12" in capsys.readouterr().err


def test_without_data_a_message_not_a_traceback(tmp_path):
    helpers.assert_no_data_message(NAME, tmp_path)
