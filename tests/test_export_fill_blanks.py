"""export_fill_blanks_model: the served text-in, text-out masked language
model gives `kzoo.models.fill_blanks`' completions, in a process with
TensorFlow alone."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

import keras  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

import kzoo  # noqa: E402
from kzoo.data import char_vocabulary  # noqa: E402
from kzoo.models import (char_transformer, fill_blanks,  # noqa: E402
                         masked_language_model)
from tests.conftest import subprocess_env  # noqa: E402

LENGTH = 48
CORPUS = ["deixa o menino pegar a bola e aprender",
          "a ação é útil, não é? ç"]
TEXTS = ["deixa o menino _____ a bola e __rende_",
         "a a\u0327c\u0327a\u0303o e\u0301 __il",   # decomposed accents
         "  Ω ___  b_ ",                           # unknown char, spaces
         "sem lacunas",
         "_"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    keras.utils.set_random_seed(4)
    vocab = char_vocabulary(CORPUS)
    v = len(vocab) + 2
    model = masked_language_model(
        char_transformer(v, sequence_length=LENGTH, dim=16, depth=1, heads=2,
                         mlp_dim=32, dropout=0.0), v)
    root = tmp_path_factory.mktemp("fill") / "saved_models"
    path = kzoo.export.export_fill_blanks_model(model, vocab,
                                                export_dir=str(root))
    return model, vocab, path, root


def test_served_completions_equal_fill_blanks(exported):
    model, vocab, path, root = exported
    assert os.path.basename(os.path.dirname(path)) == "fill_blanks"
    assert os.path.isfile(root / "models.config")
    loaded = tf.saved_model.load(path)
    fixed = loaded.signatures["serving_default"](texts=tf.constant(TEXTS))
    free = loaded.signatures["free_length"](texts=tf.constant(TEXTS))
    for i, text in enumerate(TEXTS):
        want = fill_blanks(model, text, vocab)
        assert fixed["completions"][i].numpy().decode() == want, text
        want_free = fill_blanks(model, text, vocab, free_length=True)
        assert free["completions"][i].numpy().decode() == want_free, text
    # The random model really did write something, and kept the rest.
    first = fixed["completions"][0].numpy().decode()
    assert "_" not in first and first.startswith("deixa o menino ")
    assert fixed["completions"][3].numpy().decode() == "sem lacunas"
    assert fixed["completions"][2].numpy().decode().startswith("Ω ")
    # Invalid UTF-8 is an unknown character, not an error.
    bad = loaded.signatures["serving_default"](
        texts=tf.constant([b"ca\xff_a"]))["completions"][0].numpy()
    assert bad.decode().startswith("ca\ufffd") and b"_" not in bad


def test_too_long_text_is_a_clear_error(exported):
    _, _, path, _ = exported
    loaded = tf.saved_model.load(path)
    for name in ("serving_default", "free_length"):
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=f"longer than the {LENGTH} characters the model"):
            loaded.signatures[name](texts=tf.constant(["a" * LENGTH + "_"]))
    # A run that could only shrink to fit is still a clear error in Python.
    model, vocab, _, _ = exported
    with pytest.raises(ValueError, match=f"the model takes {LENGTH}"):
        fill_blanks(model, "a" * LENGTH + "__", vocab, free_length=True)


_CHILD = """
import json, sys
import tensorflow as tf
serve = tf.saved_model.load({path!r}).signatures["serving_default"]
out = serve(texts=tf.constant({texts!r}))["completions"].numpy()
assert sys.modules.get("kzoo") is None, "kzoo was imported"
json.dump([t.decode() for t in out], open({out!r}, "w"))
"""


def test_fresh_tensorflow_only_process(exported, tmp_path):
    model, vocab, path, _ = exported
    out = tmp_path / "out.json"
    env = subprocess_env()
    env.pop("PYTHONPATH", None)  # kzoo must not even be importable there
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD.format(path=os.path.abspath(path),
                                             texts=TEXTS[:2], out=str(out))],
        capture_output=True, text=True, env=env, timeout=180,
        cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.load(open(out)) == [fill_blanks(model, t, vocab)
                                    for t in TEXTS[:2]]


def test_bad_arguments(exported, tmp_path):
    model, vocab, _, _ = exported
    with pytest.raises(ValueError, match=r"Received: max_extra=-1$"):
        kzoo.export.export_fill_blanks_model(model, vocab,
                                             export_dir=str(tmp_path),
                                             max_extra=-1)
