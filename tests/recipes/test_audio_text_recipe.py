"""recipes/audio_text_contrastive.py at a tiny budget (real clips): held-out
words, recall both ways beside random init and chance, a text tower that
serves UTF-8 strings (NFC or not)."""

import os

import numpy as np
import pytest

from tests.conftest import datasets_root
from tests.recipes import helpers


def test_audio_text_end_to_end(tmp_path):
    root = datasets_root()
    if not os.path.isfile(os.path.join(root, "spoken_words_pt",
                                       "metadata.csv")):
        pytest.skip("spoken_words_pt not found (set KZOO_DATA_DIR)")
    out, exp = str(tmp_path / "run"), str(tmp_path / "export")
    proc = helpers.run_recipe(
        "audio_text_contrastive.py",
        ["--data-dir", root, "--limit", "96", "--epochs", "2",
         "--batch-size", "32", "--widths", "8,16", "--num-mel-bins", "32",
         "--text-dim", "16", "--text-depth", "1", "--embedding-dim", "16",
         "--log-every", "1", "--output-dir", out, "--export-dir", exp],
        timeout=600)
    m = helpers.read_metrics(out)
    assert m["test_words"] == 200 and m["test_clips"] == 800
    assert m["chance_audio_to_text_recall@1"] == 0.005
    for k in (1, 5, 10):
        for d in ("audio_to_text", "text_to_audio"):
            assert 0.0 <= m[f"{d}_recall@{k}"] <= 1.0
            assert 0.0 <= m[f"random_init_{d}_recall@{k}"] <= 1.0
    assert len(m["history"]["loss"]) == 2
    assert "held-out words" in proc.stdout
    # --limit 96 = 24 words x 4 voices; one voice is kept out of training
    # and searched among the 24 training words.
    assert m["held_out_voice"] == "pt-br+f4" and len(m["voices"]) == 4
    assert m["train_clips"] == 72 and m["new_voice_clips"] == 24
    assert m["new_voice_words"] == 24
    assert m["chance_new_voice_audio_to_text_recall@1"] == round(1 / 24, 5)
    for k in (1, 5, 10):
        for d in ("audio_to_text", "text_to_audio"):
            assert 0.0 <= m[f"new_voice_{d}_recall@{k}"] <= 1.0
            assert 0.0 <= m[f"random_init_new_voice_{d}_recall@{k}"] <= 1.0
    assert "seen words, unseen voice pt-br+f4" in proc.stdout

    import tensorflow as tf

    serve = tf.saved_model.load(m["saved_model_text"]).signatures[
        "serving_default"]
    composed = "ação"
    decomposed = "ac\u0327a\u0303o"
    emb = serve(texts=tf.constant([composed, decomposed, "  ação ",
                                   "casa"]))["embeddings"].numpy()
    assert emb.shape == (4, 16)
    np.testing.assert_allclose(emb[1], emb[0], atol=1e-5)
    np.testing.assert_allclose(emb[2], emb[0], atol=1e-5)
    assert not np.allclose(emb[3], emb[0])
    bad = serve(texts=tf.constant([b"ca\xffsa"]))["embeddings"].numpy()
    assert np.all(np.isfinite(bad))


def test_text_tower_started_from_a_masked_model(tmp_path):
    """--text-init DIR: the text tower takes the masked model's
    architecture, weights and vocabulary (--text-init-architecture-only:
    the architecture and vocabulary, random weights)."""
    root = datasets_root()
    if not os.path.isfile(os.path.join(root, "spoken_words_pt",
                                       "metadata.csv")):
        pytest.skip("spoken_words_pt not found (set KZOO_DATA_DIR)")
    import json

    import keras

    import kzoo

    vocab = list(" abcdefghijklmnopqrstuvwxyzáãâàçéêíóôõú")
    keras.utils.set_random_seed(0)
    encoder = kzoo.models.char_transformer(len(vocab) + 2, 32, dim=16,
                                           depth=1, heads=2, mlp_dim=32,
                                           conv_layers=1)
    masked_dir = tmp_path / "masked"
    masked_dir.mkdir()
    kzoo.models.masked_language_model(encoder, len(vocab) + 2).save(
        str(masked_dir / "masked_language_model.keras"))
    with open(masked_dir / "vocabulary.json", "w", encoding="utf-8") as f:
        json.dump(vocab, f)
    common = ["--data-dir", root, "--limit", "48", "--epochs", "1",
              "--batch-size", "24", "--widths", "8", "--num-mel-bins", "16",
              "--embedding-dim", "8", "--text-init", str(masked_dir),
              "--export-dir", ""]
    for extra, weights in (([], "pretrained"),
                           (["--text-init-architecture-only"], "random")):
        out = str(tmp_path / weights)
        helpers.run_recipe("audio_text_contrastive.py",
                           common + extra + ["--output-dir", out],
                           timeout=600)
        m = helpers.read_metrics(out)
        assert m["text_init"] == str(masked_dir)
        assert m["text_init_weights"] == weights
        name = "audio_text_spoken_words_pt_text"
        with open(os.path.join(out, f"{name}.export.json")) as f:
            assert json.load(f)["options"]["vocabulary"] == vocab
        tower = keras.saving.load_model(os.path.join(
            out, f"{name}.keras")).get_layer("text_encoder")
        emb = tower.get_layer("char_embedding")
        assert (emb.input_dim, emb.output_dim) == (len(vocab) + 2, 16)
        assert "conv0" in [layer.name for layer in tower.layers]
    proc = helpers.run_recipe(
        "audio_text_contrastive.py",
        ["--data-dir", root, "--text-init", str(tmp_path / "nowhere"),
         "--output-dir", str(tmp_path / "bad")], timeout=300, check=False)
    assert proc.returncode != 0
    assert "neither a directory nor a preset" in proc.stderr
