"""The cloze benchmark: hidden words and spans of held-out Portuguese prose.

Items (`kzoo.eval.cloze_items`): in each of the first `--paragraphs`
paragraphs of `text/pt_docs/test.txt` (documents never trained on: the
split is by document), one whole word and one 2-3 letter span inside a
longer word are hidden, one `_` per letter. Ten fills, each scored by
exact recovery of the word and by the share of filled words found in the
lexicon `text/pt_docs/words.txt` (`kzoo.eval.cloze_scores`):

- `char_bigram`: each hidden letter the most frequent after the previous
  character in the training text (`kzoo.eval.CharBigram`);
- `word_unigram`: the most frequent training word fitting the visible
  letters (`kzoo.eval.WordNgram(order=1)`);
- `word_ngram`: the most frequent training word fitting the visible
  letters after the previous word, else the most frequent fitting word
  (`kzoo.eval.WordNgram`);
- `word_ngram_both_sides`: the fitting training word with the highest
  word-bigram probability between its two neighbours, `P(w | previous)
  * P(next | w)`, Witten-Bell smoothed
  (`kzoo.eval.WordNgram(following=True)`);
- `word_ngram_both_sides_lexicon_only`: the same choosing among the
  lexicon's words only (`WordNgram(..., candidates=lexicon)`): a training
  word outside the lexicon (software names, English) is never written;
- `model`: the masked character model, one letter per blank
  (`kzoo.models.fill_blanks`);
- `model_lexicon`: the same model choosing among the lexicon's words that
  fit (`kzoo.models.fill_words`);
- `model_lexicon_prior`: the same, the lexicon joined by the training
  words with their counts and the model's scores multiplied by that
  word-unigram prior (`fill_words(..., prior_weight=w)`); `w` is the one
  of `--prior-weights` with the best exact recovery on the items of the
  first `--validation-paragraphs` paragraphs of `valid.txt` (never on
  test);
- `model_lexicon_bigram_prior`: the same with the word-bigram prior in
  context, `P(w | previous) * P(next | w)` (`Lexicon.with_counts(texts,
  order=2)`; its weight chosen the same way): the model plus the
  both-sides n-gram, to be read beside `word_ngram_both_sides`;
- `model_lexicon_bigram_prior_lexicon_only`: the same with the lexicon's
  words as the only candidates (`with_counts(..., add_words=False)`), to
  be read beside `word_ngram_both_sides_lexicon_only`.

The n-gram baselines and the prior learn from `text/pt_docs/train.txt`
and `text/fortunes_br.txt`. Results go to `--out` (JSON) and the markdown
table beside it, with the course's sentence filled by each model fill.

    python benchmarks/cloze_benchmark.py --data-dir ../shared/datasets
    python benchmarks/cloze_benchmark.py --run runs/masked_text_pt
"""

import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

PRESET = "masked_text_chartransformer_fortunes_pt"
COURSE = "Deixa o menino _____ bola e __pren_____"
OUT = os.path.join(ROOT, "benchmarks", "results", "cloze_benchmark.json")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--data-dir", default=os.environ.get("KZOO_DATA_DIR"),
                        help="datasets root holding text/. Default: "
                        "$KZOO_DATA_DIR.")
    parser.add_argument("--preset", default=PRESET,
                        help=f"the masked character model. Default: {PRESET}.")
    parser.add_argument("--run", default=None,
                        help="a masked_text.py run directory instead of the "
                        "preset: its masked_language_model.keras and "
                        "vocabulary.json. Default: none (the preset).")
    parser.add_argument("--paragraphs", type=int, default=200,
                        help="test paragraphs used. Default: 200.")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the hidden positions. Default: 0.")
    parser.add_argument("--methods",
                        default=",".join(METHODS),
                        help="comma-separated fills. Default: all ten. Rows "
                        "of --out from a run on the same items that this "
                        "run does not compute are kept, with that run's "
                        "command.")
    parser.add_argument("--prior-weights", default="0.5,1,2,4,8,16",
                        help="weights of the word priors tried on "
                        "validation items (the model_lexicon_*prior "
                        "fills). Default: "
                        "0.5,1,2,4,8,16.")
    parser.add_argument("--validation-paragraphs", type=int, default=50,
                        help="valid.txt paragraphs that choose the prior "
                        "weights. Default: 50.")
    parser.add_argument("--out", default=OUT,
                        help="results JSON. Default: "
                        "benchmarks/results/cloze_benchmark.json.")
    return parser.parse_args(argv)


def _lines(path):
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()]


def markdown(result):
    kinds = ("word", "span", "all")
    lines = ["| fill | " + " | ".join(
        f"{k}: exact / real words" for k in kinds) + " |",
        "|---|" + "---|" * len(kinds)]
    for method, scores in result["scores"].items():
        cells = [f"{100 * scores[k]['exact']:.1f}% / "
                 f"{100 * scores[k]['real_words']:.1f}%"
                 if k in scores else "" for k in kinds]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    for method, p in result.get("prior_weights", {}).items():
        lines += ["", f"{method}: prior weight {p['chosen']}, "
                  f"chosen on {p['validation_items']} validation items "
                  "(exact recovery " + ", ".join(
                      f"{w}: {100 * e:.1f}%" for w, e in
                      p["validation_exact"].items()) + ")."]
    lines += ["", f"{result['items']} items from {result['paragraphs']} "
              f"test paragraphs; model: {result['preset']}. Course "
              "sentence: " + "; ".join(f"{k}: \"{v}\"" for k, v in
                                      result["course_sentence"].items()),
              "", f"Machine: {result['cpu']}. Command: "
              f"`{result['command']}` ({result['seconds']:.0f} s)."]
    for run in result.get("earlier_runs", []):
        lines += ["", "Rows " + ", ".join(run["methods"]) + " from an "
                  f"earlier run on the same items: `{run['command']}` "
                  f"({run['seconds']:.0f} s, {run['cpu']})."]
    return "\n".join(lines) + "\n"


METHODS = ("char_bigram", "word_unigram", "word_ngram",
           "word_ngram_both_sides", "word_ngram_both_sides_lexicon_only",
           "model", "model_lexicon", "model_lexicon_prior",
           "model_lexicon_bigram_prior",
           "model_lexicon_bigram_prior_lexicon_only")
# The fills with a word prior, and the order of its counts.
PRIOR_ORDER = {"model_lexicon_prior": 1, "model_lexicon_bigram_prior": 2,
               "model_lexicon_bigram_prior_lexicon_only": 2}
# The fills whose candidates are the lexicon's words only.
LEXICON_ONLY = ("word_ngram_both_sides_lexicon_only",
                "model_lexicon_bigram_prior_lexicon_only")
# What makes two runs' rows comparable (the same items of the same model).
SAME_ITEMS = ("preset", "paragraphs", "items", "seed", "items_digest")


def items_digest(items):
    """A short hash of the items' texts and answers: two runs with the same
    counts but other items (another text, another `cloze_items`) differ."""
    import hashlib

    text = json.dumps([[i["text"], i["start"], i["answer"], i["kind"]]
                       for i in items], ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def choose_prior_weight(model, vocabulary, length, counted, paragraphs,
                        weights, seed):
    """The prior weight with the best exact recovery on validation items
    (ties: the smaller weight), with each weight's figure."""
    from kzoo import eval as kz_eval
    from kzoo import models

    items = kz_eval.cloze_items(paragraphs, length, seed)
    exact = {}
    for weight in weights:
        filled = [models.fill_words(model, item["text"], vocabulary,
                                    counted, length,
                                    prior_weight=weight)["text"]
                  for item in items]
        exact[weight] = kz_eval.cloze_scores(items, filled,
                                             counted)["all"]["exact"]
    chosen = max(sorted(exact), key=lambda w: exact[w])
    return {"chosen": chosen, "validation_items": len(items),
            "validation_exact": {str(w): e for w, e in exact.items()}}


def keep_earlier_rows(result, path):
    """`result` with the rows of the results file at `path` that this run
    did not compute, when that file scored the same items of the same
    model (`SAME_ITEMS`); each earlier run's command stays recorded under
    `"earlier_runs"`. Rows come in `METHODS` order."""
    if not os.path.isfile(path):
        return result
    with open(path, encoding="utf-8") as f:
        earlier = json.load(f)
    if any(earlier.get(k) != result[k] for k in SAME_ITEMS):
        return result
    kept = [m for m in earlier["scores"] if m not in result["scores"]]
    if not kept:
        return result
    runs = [dict(run, methods=[m for m in run["methods"] if m in kept])
            for run in earlier.get("earlier_runs", [])]
    own = [m for m in kept
           if not any(m in run["methods"] for run in runs)]
    runs = [run for run in runs + [{
        "command": earlier["command"], "cpu": earlier["cpu"],
        "seconds": earlier["seconds"], "methods": own}] if run["methods"]]
    merged = dict(result, earlier_runs=runs)
    for key in ("scores", "seconds_per_method", "examples"):
        both = {**earlier[key], **result[key]}
        merged[key] = {m: both[m] for m in METHODS if m in both}
    priors = {**earlier.get("prior_weights", {}),
              **result.get("prior_weights", {})}
    if priors:
        merged["prior_weights"] = {m: priors[m] for m in METHODS
                                   if m in priors}
    merged["course_sentence"] = {**earlier["course_sentence"],
                                 **result["course_sentence"]}
    return merged


def main(argv=None):
    args = parse_args(argv)
    from kzoo import eval as kz_eval
    from kzoo import models
    from kzoo._machine import cpu_description
    from kzoo._results import markdown_path
    from kzoo._results import write_json
    from kzoo._results import write_markdown

    start = time.time()
    text_dir = os.path.join(args.data_dir, "text")
    docs = os.path.join(text_dir, "pt_docs")
    lexicon = models.Lexicon.from_file(os.path.join(docs, "words.txt"))
    train = _lines(os.path.join(docs, "train.txt"))
    fortunes = os.path.join(text_dir, "fortunes_br.txt")
    if os.path.isfile(fortunes):
        train += [t for t in _lines(fortunes) if t != "%"]
    model, vocabulary = models.load_masked_model(args.run or args.preset)
    length = int(model.inputs[0].shape[1])
    model_name = (os.path.relpath(os.path.abspath(args.run), ROOT)
                  if args.run else args.preset)
    paragraphs = _lines(os.path.join(docs, "test.txt"))[:args.paragraphs]
    items = kz_eval.cloze_items(paragraphs, length, args.seed)
    methods = args.methods.split(",")
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        raise SystemExit(f"unknown --methods {unknown}; choose among "
                         f"{list(METHODS)}")
    priors, counted = {}, {}
    for method in methods:
        if method not in PRIOR_ORDER:
            continue
        counted[method] = lexicon.with_counts(
            train, PRIOR_ORDER[method], add_words=method not in LEXICON_ONLY)
        priors[method] = choose_prior_weight(
            model, vocabulary, length, counted[method],
            _lines(os.path.join(docs, "valid.txt"))[
                :args.validation_paragraphs],
            [float(w) for w in args.prior_weights.split(",")], args.seed)
        print(f"{method} weight on validation:", json.dumps(priors[method]),
              flush=True)

    def with_prior(method):
        return lambda: lambda text, start: models.fill_words(
            model, text, vocabulary, counted[method], length,
            prior_weight=priors[method]["chosen"])["text"]
    # Each row's fill, built only when that row runs (the n-gram
    # baselines count the whole training text).
    fills = {
        "char_bigram": lambda: kz_eval.CharBigram(train).fill,
        "word_unigram": lambda: kz_eval.WordNgram(train, order=1).fill,
        "word_ngram": lambda: kz_eval.WordNgram(train).fill,
        "word_ngram_both_sides": lambda: kz_eval.WordNgram(
            train, following=True).fill,
        "word_ngram_both_sides_lexicon_only": lambda: kz_eval.WordNgram(
            train, following=True, candidates=lexicon).fill,
        "model": lambda: lambda text, start: models.fill_blanks(
            model, text, vocabulary, length),
        "model_lexicon": lambda: lambda text, start: models.fill_words(
            model, text, vocabulary, lexicon, length)["text"],
        **{method: with_prior(method) for method in priors},
    }
    result = {"what": __doc__.split("\n\n")[0], "preset": model_name,
              "paragraphs": len(paragraphs), "items": len(items),
              "items_digest": items_digest(items),
              "seed": args.seed, "cpu": cpu_description(),
              "command": "python benchmarks/cloze_benchmark.py "
              + " ".join(argv if argv is not None else sys.argv[1:]),
              "scores": {}, "seconds_per_method": {}, "examples": {}}
    if priors:
        result["prior_weights"] = priors
    for method in methods:
        t = time.time()
        fill = fills[method]()
        filled = [fill(item["text"], item["start"]) for item in items]
        result["scores"][method] = kz_eval.cloze_scores(items, filled,
                                                        lexicon)
        result["seconds_per_method"][method] = round(time.time() - t, 1)
        result["examples"][method] = [
            {"text": item["text"], "answer": item["answer"],
             "filled": f[item["start"]:item["start"] + len(item["answer"])]}
            for item, f in list(zip(items, filled))[:6]]
        print(method, json.dumps(result["scores"][method]), flush=True)
    result["course_sentence"] = {
        "model": models.fill_blanks(model, COURSE, vocabulary,
                                    free_length=True),
        "model_lexicon": models.fill_words(model, COURSE, vocabulary,
                                           lexicon,
                                           free_length=True)["text"]}
    for method, prior in priors.items():
        result["course_sentence"][method] = models.fill_words(
            model, COURSE, vocabulary, counted[method], free_length=True,
            prior_weight=prior["chosen"])["text"]
    result["seconds"] = round(time.time() - start, 1)
    result = keep_earlier_rows(result, args.out)
    write_json(args.out, result, ensure_ascii=False)
    md = write_markdown(markdown_path(args.out), markdown(result))
    print(f"wrote {args.out} and {md}")
    return result


if __name__ == "__main__":
    main()
