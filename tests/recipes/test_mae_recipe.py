"""Tests of recipes/mae_cifar.py: a tiny digits run writes the metrics,
the reconstructions and the export; its flags refuse a CNN backbone."""

import importlib.util

import numpy as np
import pytest

from tests.recipes import helpers

NAME = "mae_cifar.py"


@pytest.fixture(scope="module")
def recipe():
    spec = importlib.util.spec_from_file_location(
        "mae_recipe", helpers.recipe_path(NAME))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_digits_end_to_end(tmp_path):
    from PIL import Image

    out, exp = str(tmp_path / "run"), str(tmp_path / "export")
    proc = helpers.run_recipe(NAME, [
        "--dataset", "digits", "--limit", "128", "--epochs", "2",
        "--batch-size", "32", "--knn-k", "10", "--feature-probe-epochs", "1",
        "--no-norm-pix-loss", "--png-images", "4", "--output-dir", out,
        "--export-dir", exp], timeout=400)
    m = helpers.read_metrics(out)
    assert m["visible_patches"] == 16 and m["num_patches"] == 64
    for key in ("knn_accuracy", "random_init_knn_accuracy"):
        assert 0.0 <= m[key] <= 1.0
    history = helpers.read_history(out)
    assert len(history) == 2
    assert all(np.isfinite(float(row["loss"])) for row in history)
    with Image.open(m["reconstructions_png"]) as image:
        # three rows (originals, visible patches, reconstructions) of 4
        assert image.height > 3 * 32 * 3 and image.width > 4 * 32 * 3
    helpers.assert_exported(exp, "mae_digits")
    assert "result: kNN" in proc.stdout


def test_defaults_and_bad_flags(recipe, capsys):
    args = recipe.parse_args([])
    assert args.backbone == "vit_tiny" and args.mask_ratio == 0.75
    assert args.optimizer == "adamw" and args.warmup_epochs == 1
    for flags in (["--backbone", "resnet20"], ["--mask-ratio", "1"],
                  ["--decoder-depth", "0"]):
        with pytest.raises(SystemExit) as e:
            recipe.parse_args(flags)
        assert e.value.code == 2
    assert "usage:" in capsys.readouterr().err

