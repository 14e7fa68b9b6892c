"""recipes/audio_image_contrastive.py end to end at a tiny budget (real
FSDD recordings): trains, evaluates beside random init and chance, exports
an audio tower that serves raw waveforms of any length."""

import os

import numpy as np
import pytest

from kzoo.data import fit_length, load_fsdd
from tests.conftest import datasets_root
from tests.recipes import helpers


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    root = datasets_root()
    if not os.path.isdir(os.path.join(root, "fsdd", "recordings")):
        pytest.skip("FSDD not found (set KZOO_DATA_DIR)")
    tmp = tmp_path_factory.mktemp("audio_image")
    out, exp = str(tmp / "run"), str(tmp / "export")
    proc = helpers.run_recipe(
        "audio_image_contrastive.py",
        ["--data-dir", root, "--limit", "96", "--epochs", "2",
         "--batch-size", "32", "--widths", "8,16", "--num-mel-bins", "32",
         "--embedding-dim", "16", "--log-every", "1", "--output-dir", out,
         "--export-dir", exp], timeout=600)
    return {"out": out, "exp": exp, "stdout": proc.stdout, "root": root}


def test_metrics_beside_random_init_and_chance(tiny_run):
    m = helpers.read_metrics(tiny_run["out"])
    for key in ("audio_to_image_recall@1", "audio_to_image_recall@5",
                "image_to_audio_recall@1", "image_to_audio_recall@5",
                "zero_shot_accuracy"):
        assert 0.0 <= m[key] <= 1.0
        assert 0.0 <= m["random_init_" + key] <= 1.0
    assert m["chance_recall@1"] == 0.1 and m["test_recordings"] == 300
    assert m["train_recordings"] == 96 and m["epochs_run_in_this_process"] == 2
    assert len(m["history"]["loss"]) == 2 and "logit_scale" in m["history"]
    assert np.isfinite(m["final_loss"])
    assert "result: audio->image Recall@1" in tiny_run["stdout"]
    assert "epoch 2/2 step 3" in tiny_run["stdout"]


def test_audio_saved_model_takes_raw_waveforms_of_any_length(tiny_run):
    import tensorflow as tf

    m = helpers.read_metrics(tiny_run["out"])
    helpers.assert_exported(tiny_run["exp"], "audio_image_fsdd_audio")
    helpers.assert_exported(tiny_run["exp"], "audio_image_fsdd_image")
    serve = tf.saved_model.load(m["saved_model_audio"]).signatures[
        "serving_default"]
    clips = load_fsdd("test", tiny_run["root"], length=12000, limit=2)
    long = serve(waveforms=tf.constant(clips.waveforms))["embeddings"]
    fitted = np.stack([fit_length(w, 8000) for w in clips.waveforms])
    direct = serve(waveforms=tf.constant(fitted))["embeddings"]
    assert long.shape == (2, 16)
    np.testing.assert_allclose(long.numpy(), direct.numpy(), atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(long.numpy(), axis=1), 1.0,
                               rtol=1e-5)
    short = serve(waveforms=tf.constant(clips.waveforms[:, :3000]))
    assert np.all(np.isfinite(short["embeddings"].numpy()))
