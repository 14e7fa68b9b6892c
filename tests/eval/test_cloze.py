"""The cloze benchmark's pieces (kzoo.eval.cloze) by hand."""

import numpy as np
import pytest

import kzoo


def test_items_hide_a_word_and_a_span_one_blank_per_letter():
    paragraphs = ["O gato preto subiu no telhado da casa amarela.",
                  "Um texto curto mas suficiente para duas lacunas."]
    items = kzoo.eval.cloze_items(paragraphs, length=40, seed=3)
    assert [i["kind"] for i in items] == ["word", "span"] * 2
    for item in items:
        text, start, answer = item["text"], item["start"], item["answer"]
        assert len(text) <= 40 and not text.endswith(" ")
        hidden = text[start:start + len(answer)]
        assert len(hidden) == len(answer) and "_" in hidden
        # the visible letters are the answer's
        assert all(h == "_" or h == a for h, a in zip(hidden, answer))
        if item["kind"] == "word":
            assert set(hidden) == {"_"} and len(answer) >= 3
        else:
            assert 2 <= hidden.count("_") <= 3 and len(answer) >= 5
            assert set(hidden) != {"_"}
        # the rest of the text is the paragraph's
        assert text.replace(hidden, answer, 1) in paragraphs[items.index(
            item) // 2]
    assert items == kzoo.eval.cloze_items(paragraphs, length=40, seed=3)
    with pytest.raises(ValueError, match="kinds"):
        kzoo.eval.cloze_items(paragraphs, kinds=("line",))


def test_items_blank_only_the_hidden_letters():
    # a literal `_` of the source is a space (as in the training text),
    # not a blank every fill would take for a hidden letter
    paragraphs = ["Use o servico SF_FileSystem para abrir o arquivo."]
    for seed in range(5):
        for item in kzoo.eval.cloze_items(paragraphs, length=60, seed=seed):
            text, start, answer = item["text"], item["start"], item["answer"]
            end = start + len(answer)
            assert "_" not in text[:start] + text[end:]
            assert text[:start] + answer + text[end:] == (
                "Use o servico SF FileSystem para abrir o arquivo.")


def test_scores_by_hand():
    lex = kzoo.models.Lexicon(["gato", "casa"])
    items = [{"text": "o ____", "start": 2, "answer": "gato", "kind": "word"},
             {"text": "a c__a", "start": 2, "answer": "casa", "kind": "span"},
             {"text": "a ____", "start": 2, "answer": "Gato", "kind": "word"}]
    filled = ["o gato", "a cxxa", "a casa"]
    s = kzoo.eval.cloze_scores(items, filled, lex)
    assert s["word"] == {"exact": 0.5, "real_words": 1.0, "items": 2}
    assert s["span"] == {"exact": 0.0, "real_words": 0.0, "items": 1}
    assert s["all"]["exact"] == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="one filled text"):
        kzoo.eval.cloze_scores(items, filled[:2], lex)


def test_word_ngram_prefers_the_bigram_then_the_unigram():
    train = ["o gato come", "o gato dorme", "um pato nada",
             "um pato voa", "um rato foge", "o rato"]
    ngram = kzoo.eval.WordNgram(train)
    # after "um", "pato" (2) beats "rato" (1); after "o", "gato"
    assert ngram.fill("um _ato", 3) == "um pato"
    assert ngram.fill("o _ato", 2) == "o gato"
    # no bigram fits: the most frequent fitting word ("gato" and "pato"
    # tie at 2; most_common keeps the first counted)
    assert ngram.fill("xyz _ato", 4) in ("xyz gato", "xyz pato")
    assert ngram.fill("o zz_zz", 2) == "o zz_zz"  # nothing fits
    # order 1 ignores the previous word: "rato" (3) over "pato" (2)
    train = ["um pato", "um pato", "x rato", "x rato", "x rato"]
    assert kzoo.eval.WordNgram(train).fill("um _ato", 3) == "um pato"
    unigram = kzoo.eval.WordNgram(train, order=1)
    assert unigram.fill("um _ato", 3) == "um rato"
    with pytest.raises(ValueError, match="order"):
        kzoo.eval.WordNgram(train, order=3)


def test_word_ngram_with_the_following_word():
    # after "o": gato 2, pato 1 -> the previous-word fill says "gato";
    # only "pato" is ever followed by "nada", which decides it when the
    # next word is seen too
    train = ["o gato dorme", "o gato come", "o pato nada", "um pato nada"]
    assert kzoo.eval.WordNgram(train).fill("o _ato nada", 2) == "o gato nada"
    both = kzoo.eval.WordNgram(train, following=True)
    assert both.fill("o _ato nada", 2) == "o pato nada"
    assert both.fill("o _ato dorme", 2) == "o gato dorme"
    # the score is the bigram model's P(w | o) P(nada | w)
    logp = both.counts.log_prob(["gato", "pato"], "o", "nada")
    assert logp[1] > logp[0]
    # no following word (or one with blanks): the previous one decides
    assert both.fill("o _ato", 2) == "o gato"
    assert both.fill("o _ato n_da", 2) == "o gato n_da"
    assert both.fill("o zz_zz", 2) == "o zz_zz"  # nothing fits
    with pytest.raises(ValueError, match="order=2"):
        kzoo.eval.WordNgram(train, order=1, following=True)


def test_word_ngram_restricted_to_candidates():
    # "gato" is the training words' choice; with candidates that exclude
    # it, the fill writes the best allowed word, even one never seen in
    # training ("rato", kept by the unigram's smoothing)
    train = ["o gato dorme", "o gato come", "o pato nada", "um pato nada"]
    for following in (False, True):
        ngram = kzoo.eval.WordNgram(train, following=following,
                                    candidates=["Pato", "rato"])
        assert ngram.fill("o _ato dorme", 2) == "o pato dorme"
        assert ngram.fill("o _at_ dorme", 2) == "o pato dorme"
        rato = kzoo.eval.WordNgram(train, following=following,
                                   candidates=["rato", "gatos"])
        assert rato.fill("o _ato", 2) == "o rato"
        assert rato.fill("o gat_", 2) == "o gat_"  # no candidate fits
        # candidates read once: an iterator works as a list does
        once = kzoo.eval.WordNgram(train, following=following,
                                   candidates=iter(["Pato", "rato"]))
        assert once.fill("o _ato dorme", 2) == "o pato dorme"
    # the candidates join the unigram's vocabulary: V = 7 training words
    # + rato
    counts = kzoo.eval.WordNgram(train, candidates=["rato"]).counts
    assert counts.size == 8


def test_char_bigram_fills_left_to_right():
    bigram = kzoo.eval.CharBigram(["abab abab", "ac"])
    # after "a": b (4) over c (1); after "b": a
    assert bigram.fill("a__") == "aba"
    assert np.all([c != "_" for c in bigram.fill("___")])
