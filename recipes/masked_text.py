"""Filling blanks in Portuguese text: a character-level masked language model.

The course's example: "Deixa o menino _____ bola e __pren_____" ->
"Deixa o menino pegar bola e aprender": words AND parts of words are
hidden. A small character transformer (`kzoo.models.char_transformer`,
pre-LN, 3 blocks of width 128) is trained on Debian's fortunes-br (2,510
entries of Brazilian Portuguese, `../shared/datasets/text`), split by a
fixed seed into 80% train / 10% validation / 10% test entries, cut into
pieces of at most `--sequence-length` characters at spaces. `--dataset
pt_docs` reads the technical prose of `text/pt_docs/` instead (3.6 MB,
its published split by document), `fortunes_br_and_pt_docs` both.

Masking (`kzoo.data.mask_characters`, redrawn every epoch): units are
whole words (probability 0.5) or spans inside a word (geometric length,
mean 3), until 15% of the characters are chosen; of those, 80% become
`_`, 10% a random character, 10% stay (BERT's rule). The loss is the
cross-entropy on the chosen characters only. Adam 1e-3, cosine decay.

Reports the masked-character accuracy on the test entries (one fixed
masking, seed 0) beside the same model at random initialisation and a
character unigram and bigram baseline, and completes `--fill` texts twice:
each `_` one character, and with each run of blanks free to take another
length (chosen by pseudo-log-likelihood); blanks are filled
most-confident first. The exported SavedModel serves both: `texts` in,
`completions` out (`serving_default`: one character per blank;
`free_length`: run lengths chosen).

    python recipes/masked_text.py --data-dir ../shared/datasets
    python recipes/masked_text.py --data-dir ../shared/datasets \\
        --fill "Deixa o menino _____ bola e __pren_____"
"""

import json
import time

if __name__ == "__main__":
    import _backend  # recipes/_backend.py: kzoo on sys.path, --backend

    _backend.from_argv()  # before kzoo imports Keras

from kzoo import runs  # noqa: E402  (Keras; TensorFlow on its backend only)

COURSE_SENTENCE = "Deixa o menino _____ bola e __pren_____"


def parse_args(argv=None):
    parser = runs.recipe_parser(__doc__)
    runs.add_common_args(
        parser, dataset="fortunes_br",
        datasets=("fortunes_br", "pt_docs", "fortunes_br_and_pt_docs"),
        epochs=100,
        batch_size=64, seed=0, output_dir=None, model_name=None,
        reference="about 2,100 training pieces")
    model = parser.add_argument_group("model")
    model.add_argument("--sequence-length", type=runs.positive_int,
                       default=128, help="characters per piece. Default: "
                       "128.")
    model.add_argument("--dim", type=runs.positive_int, default=128,
                       help="transformer width. Default: 128.")
    model.add_argument("--depth", type=runs.positive_int, default=3,
                       help="transformer blocks. Default: 3.")
    model.add_argument("--heads", type=runs.positive_int, default=4,
                       help="attention heads. Default: 4.")
    model.add_argument("--conv-layers", type=runs.non_negative_int,
                       default=2, help="residual convolutions (width 5) "
                       "before the attention blocks. Default: 2 (10 epochs: "
                       "27.3%% validation masked accuracy with them, 19.7%% "
                       "without).")
    model.add_argument("--mask-rate", type=runs.positive_float, default=0.15,
                       help="fraction of characters to predict. Default: "
                       "0.15 (BERT's).")
    model.add_argument("--fill", action="append", default=[],
                       help="a text with _ blanks to complete after "
                       "training (repeatable). The course's sentence is "
                       "always completed.")
    runs.add_optimizer_args(parser, optimizer="adam", learning_rate=1e-3,
                            weight_decay=0.0, warmup_epochs=1,
                            reference="a small transformer")
    return runs.parse_test_split_only(
        parser, argv, "the validation entries are reported beside the test "
        "ones")


def main(argv=None):
    args = parse_args(argv)
    strategy, run = runs.open_run(args, prefix="masked_text")

    import keras
    import numpy as np

    from kzoo import data, eval as keval, models

    train_e, val_e, test_e = data.text_splits(args.dataset, args.data_dir)
    if args.limit:
        train_e = train_e[:args.limit]
    length = args.sequence_length
    vocab = data.char_vocabulary(train_e)
    vocab_size = len(vocab) + 2
    space = vocab.index(" ") + 2
    ids = {name: data.encode_characters(data.text_chunks(e, length), vocab,
                                        length)
           for name, e in [("train", train_e), ("validation", val_e),
                           ("test", test_e)]}
    print(f"data: {len(train_e)} / {len(val_e)} / {len(test_e)} entries -> "
          f"{len(ids['train'])} / {len(ids['validation'])} / "
          f"{len(ids['test'])} pieces of <= {length} characters; "
          f"vocabulary {len(vocab) - 1} characters + blank")
    fixed = {}
    for name in ("validation", "test"):
        fixed[name] = data.mask_characters(
            ids[name], np.random.default_rng(0), vocab_size, space,
            args.mask_rate)

    steps = runs.steps_per_epoch(len(ids["train"]), args.batch_size)
    with strategy.scope():
        encoder = models.char_transformer(
            vocab_size, length, dim=args.dim, depth=args.depth,
            heads=args.heads, mlp_dim=2 * args.dim,
            conv_layers=args.conv_layers)
        model = models.masked_language_model(encoder, vocab_size)
        model.compile(
            optimizer=runs.build_optimizer(args, steps),
            loss=keras.losses.SparseCategoricalCrossentropy(
                from_logits=True, reduction="mean_with_sample_weight"),
            weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(
                name="masked_accuracy")],
            jit_compile=args.jit)

    def accuracy(name):
        return keval.masked_model_accuracy(model, *fixed[name])

    metrics = {"random_init_test_masked_accuracy": round(accuracy("test"), 4)}
    baselines = keval.char_ngram_baselines(ids["train"], *fixed["test"],
                                           vocab_size, space)
    metrics.update({f"test_{k}": round(v, 4) for k, v in baselines.items()})
    runs.print_metrics("before training", metrics)

    ds = data.MaskedTextDataset(ids["train"], args.batch_size, vocab_size,
                                space, args.mask_rate, seed=args.seed)
    val = fixed["validation"]
    start = time.time()
    history = model.fit(ds, epochs=args.epochs, validation_data=val,
                        callbacks=run.callbacks(), verbose=run.verbose)
    metrics.update(runs.fit_summary(history, time.time() - start, steps,
                                    args, strategy))
    metrics["history"] = {k: [float(v) for v in vals]
                          for k, vals in history.history.items()}
    metrics["validation_masked_accuracy"] = round(accuracy("validation"), 4)
    metrics["test_masked_accuracy"] = round(accuracy("test"), 4)
    metrics["vocabulary"] = "".join(vocab)
    fills = {}
    for text in [COURSE_SENTENCE] + args.fill:
        fills[text] = {
            "one_character_per_blank": models.fill_blanks(model, text, vocab),
            "free_length": models.fill_blanks(model, text, vocab,
                                              free_length=True)}
        for how, filled in fills[text].items():
            print(f"fill ({how}): {text!r} -> {filled!r}")
    metrics["fills"] = fills
    model.save(run.path("masked_language_model.keras"))
    with open(run.path("vocabulary.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    # Off TensorFlow: a .keras file and the command exporting it.
    if run.export_model("fill_blanks", model, metrics, vocabulary=list(vocab),
                        sequence_length=length):
        print(f"SavedModel (text in, completed text out; signatures "
              f"serving_default and free_length): {metrics['saved_model']}")
    run.finish(metrics)
    print(f"result: masked-character accuracy "
          f"{100 * metrics['test_masked_accuracy']:.2f}% on test entries vs "
          f"{100 * metrics['random_init_test_masked_accuracy']:.2f}% at "
          f"random init, unigram "
          f"{100 * metrics['test_unigram_accuracy']:.2f}%, bigram "
          f"{100 * metrics['test_bigram_accuracy']:.2f}%")
    return metrics


if __name__ == "__main__":
    runs.main_guard(main)
