"""Tests of recipes/finetune_cifar.py: a pretrained preset fine-tuned on a
few labels of real CIFAR-10 beats its random-init probe; the digits run
writes everything; flags and encoder errors are clear."""

import importlib.util
import os

import pytest

from tests.recipes import helpers

NAME = "finetune_cifar.py"


@pytest.fixture(scope="module")
def recipe():
    spec = importlib.util.spec_from_file_location(
        "finetune_recipe", helpers.recipe_path(NAME))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_digits_from_scratch_writes_everything(tmp_path):
    out = str(tmp_path / "run")
    proc = helpers.run_recipe(NAME, [
        "--dataset", "digits", "--encoder", "random", "--label-fraction",
        "0.2", "--epochs", "2", "--probe-epochs", "2", "--output-dir", out,
        "--export-dir", str(tmp_path / "export")], timeout=300)
    m = helpers.read_metrics(out)
    assert m["labelled_images"] == sum(m["class_counts"])
    assert min(m["class_counts"]) >= 28  # 20% of each class (~180 each)
    for key in ("probe_accuracy", "random_init_probe_accuracy",
                "finetune_accuracy", "scratch_accuracy"):
        assert 0.0 <= m[key] <= 1.0, key
    assert set(m["fit_seconds"]) == {"finetune", "scratch"}
    for stage in ("finetune", "scratch"):
        assert len(helpers.read_history_file(out, f"history_{stage}.csv")) == 2
    assert os.path.isfile(m["keras_models"][
        "finetune_random_20pct_digits_classifier"])
    helpers.assert_exported(str(tmp_path / "export"),
                            "finetune_random_20pct_digits")
    assert "ResNet-20 at random initialisation" in proc.stdout


def test_a_preset_encoder_on_real_cifar10(cifar_dir, tmp_path):
    out = str(tmp_path / "run")
    proc = helpers.run_recipe(NAME, [
        "--data-dir", os.path.dirname(cifar_dir), "--limit", "1000",
        "--encoder", "simclr_resnet20_cifar10", "--label-fraction", "0.1",
        "--epochs", "1", "--probe-epochs", "30", "--no-scratch",
        "--output-dir", out, "--export-dir", ""], timeout=600)
    m = helpers.read_metrics(out)
    assert m["labelled_images"] == 100 and "scratch_accuracy" not in m
    assert "the preset simclr_resnet20_cifar10" in proc.stdout
    # The pretrained features separate the classes from 100 labels far
    # better than the same network's random features.
    assert m["probe_accuracy"] > m["random_init_probe_accuracy"] + 0.1


def test_a_frozen_preset_encoder_is_fine_tuned_whole(recipe):
    """The SupCon preset was saved with its encoder frozen (its classifier
    stage): fine-tuning must still train every encoder weight."""
    from kzoo import presets

    name = "supcon_resnet20_cifar10"
    assert not presets.load(name).get_layer(recipe.BACKBONE_LAYER).trainable
    backbone, _ = recipe.load_encoder(name, (32, 32, 3))
    assert backbone.trainable
    trainable = {id(w) for w in backbone.trainable_weights}
    kernels = [w for w in backbone.weights if "kernel" in w.path]
    assert kernels and all(id(w) in trainable for w in kernels)


def test_defaults_follow_simclr(recipe):
    args = recipe.parse_args(["--label-fraction", "0.01"])
    assert args.epochs == 60 and args.learning_rate == 0.05 * 64 / 256
    assert args.nesterov and args.optimizer == "sgd"
    assert recipe.parse_args([]).epochs == 30
    assert recipe.parse_args(["--epochs", "3"]).epochs == 3


@pytest.mark.parametrize("flags", [
    ["--label-fraction", "0"], ["--label-fraction", "1.5"],
    ["--probe-epochs", "0"], ["--dataset", "mnist"],
])
def test_bad_flags_are_usage_errors(recipe, flags, capsys):
    with pytest.raises(SystemExit) as e:
        recipe.parse_args(flags)
    assert e.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_unknown_encoder_and_wrong_image_size_are_clear_errors(tmp_path):
    import keras

    small = keras.Sequential([keras.Input((16, 16, 3)),
                              keras.layers.GlobalAveragePooling2D()])
    small.save(tmp_path / "small.keras")
    for encoder, message in (("no_such_preset", "must be a preset"),
                             (str(tmp_path / "absent.keras"), "no such file"),
                             (str(tmp_path / "small.keras"), "the data is")):
        proc = helpers.run_recipe(NAME, [
            "--dataset", "digits", "--encoder", encoder, "--epochs", "1",
            "--output-dir", str(tmp_path / "o"), "--export-dir", ""],
            check=False, timeout=300)
        assert proc.returncode != 0 and "Traceback" not in proc.stderr
        assert message in proc.stderr, proc.stderr[-2000:]
