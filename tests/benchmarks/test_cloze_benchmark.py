"""benchmarks/cloze_benchmark.py on a few real paragraphs (tiny)."""

import importlib.util
import json
import os

import pytest

from tests.conftest import REPO_ROOT, datasets_root

SCRIPT = os.path.join(REPO_ROOT, "benchmarks", "cloze_benchmark.py")


@pytest.fixture(scope="module")
def root():
    """The datasets root, skipping where text/pt_docs is not there."""
    root = datasets_root()
    if not os.path.isfile(os.path.join(root, "text", "pt_docs",
                                       "words.txt")):
        pytest.skip(f"text/pt_docs not under {root}")
    return root


@pytest.fixture(scope="module")
def module():
    spec = importlib.util.spec_from_file_location("cloze", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_tiny_benchmark(tmp_path, root, module):
    out = str(tmp_path / "c.json")
    methods = ["char_bigram", "word_unigram", "word_ngram",
               "word_ngram_both_sides", "model_lexicon",
               "model_lexicon_prior", "model_lexicon_bigram_prior"]
    r = module.main(["--data-dir", root, "--paragraphs", "3", "--methods",
                     ",".join(methods), "--prior-weights", "0,1",
                     "--validation-paragraphs", "2", "--out", out])
    assert r["items"] == 6
    assert set(r["scores"]) == set(methods)
    # the weight is chosen on validation items, each weight's figure kept
    assert set(r["prior_weights"]) == {"model_lexicon_prior",
                                       "model_lexicon_bigram_prior"}
    for prior in r["prior_weights"].values():
        assert prior["validation_items"] == 4
        assert set(prior["validation_exact"]) == {"0.0", "1.0"}
        assert prior["validation_exact"][str(prior["chosen"])] == max(
            prior["validation_exact"].values())
    for scores in r["scores"].values():
        assert scores["all"]["items"] == 6
        assert 0 <= scores["all"]["exact"] <= 1
    assert "pren" in r["course_sentence"]["model_lexicon"]
    assert json.load(open(out))["items"] == 6
    md = open(str(tmp_path / "c.md")).read()
    assert "| word_ngram |" in md and "| word_ngram_both_sides |" in md
    assert "model_lexicon_bigram_prior: prior weight" in md
    with pytest.raises(SystemExit, match="unknown --methods"):
        module.main(["--data-dir", root, "--methods", "model,bigram",
                     "--out", out])
    # A second run of other rows on the same items keeps the first's rows
    # (in METHODS order) and its command. Lexicon-only fills write a
    # lexicon word wherever one fits, as model_lexicon does: the same
    # share of real words.
    new = ["word_ngram_both_sides_lexicon_only",
           "model_lexicon_bigram_prior_lexicon_only"]
    first = r
    r = module.main(["--data-dir", root, "--paragraphs", "3", "--methods",
                     ",".join(new), "--prior-weights", "0,1",
                     "--validation-paragraphs", "2", "--out", out])
    order = [m for m in module.METHODS if m in methods + new]
    assert list(r["scores"]) == order
    assert r["scores"]["word_ngram"] == first["scores"]["word_ngram"]
    assert [run["methods"] for run in r["earlier_runs"]] == [methods]
    assert list(r["prior_weights"]) == [
        "model_lexicon_prior", "model_lexicon_bigram_prior",
        "model_lexicon_bigram_prior_lexicon_only"]
    for method in new:
        assert r["scores"][method]["all"]["real_words"] == first["scores"][
            "model_lexicon"]["all"]["real_words"]
    md = open(str(tmp_path / "c.md")).read()
    assert "from an earlier run on the same items" in md
    # Other items (same counts, other texts: the digest differs): nothing
    # is kept.
    assert len(r["items_digest"]) == 16
    earlier = json.load(open(out))
    earlier["items_digest"] = "0" * 16
    json.dump(earlier, open(out, "w"))
    r = module.main(["--data-dir", root, "--paragraphs", "3", "--methods",
                     "char_bigram", "--out", out])
    assert list(r["scores"]) == ["char_bigram"] and "earlier_runs" not in r


def test_items_digest_tells_items_apart(module):
    import kzoo

    paragraphs = ["Use o servico de arquivos para abrir o documento.",
                  "Outro paragrafo com palavras bastante compridas."]
    items = kzoo.eval.cloze_items(paragraphs, length=60, seed=0)
    assert module.items_digest(items) == module.items_digest(
        kzoo.eval.cloze_items(list(paragraphs), length=60, seed=0))
    assert module.items_digest(items) != module.items_digest(
        kzoo.eval.cloze_items(paragraphs, length=60, seed=1))
    other = [dict(items[0], answer="outra")] + items[1:]
    assert module.items_digest(items) != module.items_digest(other)


def test_a_run_directory_scores_as_its_model(tmp_path, root, module):
    """`--run DIR` reads a masked_text.py run's model and vocabulary: the
    preset written as a run gives the preset's fills."""
    from kzoo import presets

    run = tmp_path / "run"
    run.mkdir()
    presets.load(module.PRESET).save(str(run / "masked_language_model.keras"))
    with open(run / "vocabulary.json", "w", encoding="utf-8") as f:
        json.dump(presets.tokenizer(module.PRESET).vocabulary, f)
    common = ["--data-dir", root, "--paragraphs", "2", "--methods", "model"]
    from_preset = module.main(common + ["--out", str(tmp_path / "p.json")])
    from_run = module.main(common + ["--run", str(run),
                                     "--out", str(tmp_path / "r.json")])
    assert from_run["scores"] == from_preset["scores"]
    assert from_run["examples"] == from_preset["examples"]
    assert from_run["preset"] == os.path.relpath(str(run), REPO_ROOT)
