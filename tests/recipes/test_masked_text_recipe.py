"""recipes/masked_text.py at a tiny budget on the real fortunes-br text."""

import os

import numpy as np
import pytest

from tests.conftest import datasets_root
from tests.recipes import helpers


def test_masked_text_end_to_end(tmp_path):
    root = datasets_root()
    if not os.path.isfile(os.path.join(root, "text", "fortunes_br.txt")):
        pytest.skip("fortunes_br.txt not found (set KZOO_DATA_DIR)")
    out, exp = str(tmp_path / "run"), str(tmp_path / "export")
    proc = helpers.run_recipe(
        "masked_text.py",
        ["--data-dir", root, "--limit", "100", "--epochs", "2", "--dim", "16",
         "--heads", "2", "--depth", "1", "--sequence-length", "64",
         "--log-every", "1", "--output-dir", out, "--export-dir", exp, "--fill", "O ga_o mia"],
        timeout=600)
    m = helpers.read_metrics(out)
    for key in ("test_masked_accuracy", "random_init_test_masked_accuracy",
                "test_unigram_accuracy", "test_bigram_accuracy",
                "validation_masked_accuracy"):
        assert 0.0 <= m[key] <= 1.0
    # The n-gram baselines are real guesses, well above 1 / vocabulary.
    assert m["test_bigram_accuracy"] > 0.05
    assert len(m["history"]["loss"]) == 2
    assert "val_masked_accuracy" in m["history"]
    fill = m["fills"]["O ga_o mia"]["one_character_per_blank"]
    assert len(fill) == len("O ga_o mia") and "_" not in fill
    assert fill.startswith("O ga") and fill.endswith("o mia")
    free = m["fills"]["O ga_o mia"]["free_length"]
    assert free.startswith("O ga") and free.endswith("o mia")
    assert "_" not in free and len(free) <= len("O ga_o mia") + 3
    assert "Deixa o menino _____ bola e __pren_____" in m["fills"]
    assert "result: masked-character accuracy" in proc.stdout
    assert os.path.isfile(os.path.join(out, "masked_language_model.keras"))
    assert np.isfinite(m["final_loss"])

    import tensorflow as tf

    loaded = tf.saved_model.load(m["saved_model"])
    served = loaded.signatures["serving_default"](
        texts=tf.constant(["O ga_o mia"]))["completions"][0].numpy()
    assert served.decode() == fill
    served = loaded.signatures["free_length"](
        texts=tf.constant(["O ga_o mia"]))["completions"][0].numpy()
    assert served.decode() == free

    # The per-unit evaluation script runs on the saved model.
    import subprocess
    import sys

    from tests.conftest import REPO_ROOT, subprocess_env

    units = subprocess.run(
        [sys.executable, os.path.join(REPO_ROOT, "benchmarks",
                                      "masked_text_units.py"), out,
         "--data-dir", root], capture_output=True, text=True, timeout=300,
        env=subprocess_env(), cwd=REPO_ROOT)
    assert units.returncode == 0, units.stderr[-3000:]
    mixed = [line for line in units.stdout.splitlines()
             if line.startswith("mixed: model ")]
    assert mixed and f"{100 * m['test_masked_accuracy']:.2f}%" in mixed[0]
    assert "spans_inside_words: model" in units.stdout
    assert ", random init " in mixed[0]
