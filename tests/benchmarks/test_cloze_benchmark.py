"""benchmarks/cloze_benchmark.py on a few real paragraphs (tiny)."""

import importlib.util
import json
import os

import pytest

from tests.conftest import REPO_ROOT, datasets_root

SCRIPT = os.path.join(REPO_ROOT, "benchmarks", "cloze_benchmark.py")


def test_a_tiny_benchmark(tmp_path):
    root = datasets_root()
    if not os.path.isfile(os.path.join(root, "text", "pt_docs",
                                       "words.txt")):
        pytest.skip(f"text/pt_docs not under {root}")
    spec = importlib.util.spec_from_file_location("cloze", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = str(tmp_path / "c.json")
    r = module.main(["--data-dir", root, "--paragraphs", "3", "--methods",
                     "char_bigram,word_ngram,model_lexicon", "--out", out])
    assert r["items"] == 6
    assert set(r["scores"]) == {"char_bigram", "word_ngram", "model_lexicon"}
    for scores in r["scores"].values():
        assert scores["all"]["items"] == 6
        assert 0 <= scores["all"]["exact"] <= 1
    assert "pren" in r["course_sentence"]["model_lexicon"]
    assert json.load(open(out))["items"] == 6
    assert "| word_ngram |" in open(str(tmp_path / "c.md")).read()
