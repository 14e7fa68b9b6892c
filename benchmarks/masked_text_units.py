"""Masked-character accuracy of a trained masked_text.py run, by unit.

`recipes/masked_text.py` masks whole words and spans inside words (half
the units each) and reports one accuracy. This script loads a run's
`masked_language_model.keras` and `vocabulary.json` and evaluates the
same test entries masked three ways (one fixed masking each, seed 0):
spans inside words only (`word_fraction=0`), whole words only
(`word_fraction=1`) and the recipe's mix (`0.5`), each beside the same
architecture at random initialisation (`keras.models.clone_model`, seed
`--seed`) and the character unigram and bigram baselines of the training
entries.

    python benchmarks/masked_text_units.py RUN_DIR --data-dir ../shared/datasets
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", help="output directory of a "
                        "masked_text.py run.")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--mask-rate", type=float, default=0.15)
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the random-init model. Default: 0.")
    args = parser.parse_args(argv)

    import keras
    import numpy as np

    import kzoo.models  # noqa: F401  (registers the custom layers)
    from kzoo import data, eval as keval

    model = keras.models.load_model(
        os.path.join(args.run_dir, "masked_language_model.keras"))
    with open(os.path.join(args.run_dir, "vocabulary.json"),
              encoding="utf-8") as f:
        vocab = json.load(f)
    keras.utils.set_random_seed(args.seed)
    random_init = keras.models.clone_model(model)  # fresh weights
    length = model.inputs[0].shape[1]
    vocab_size, space = len(vocab) + 2, vocab.index(" ") + 2
    train_e, _, test_e = data.split_entries(
        data.load_text_entries(args.data_dir), seed=0)
    encode = lambda e: data.encode_characters(  # noqa: E731
        data.text_chunks(e, length), vocab, length)
    train_ids, test_ids = encode(train_e), encode(test_e)
    rows = {}
    for name, fraction in (("spans_inside_words", 0.0),
                           ("whole_words", 1.0), ("mixed", 0.5)):
        inputs, targets, weights = data.mask_characters(
            test_ids, np.random.default_rng(0), vocab_size, space,
            args.mask_rate, word_fraction=fraction)
        row = {"model": keval.masked_model_accuracy(model, inputs, targets,
                                                    weights),
               "random_init": keval.masked_model_accuracy(
                   random_init, inputs, targets, weights)}
        row.update(keval.char_ngram_baselines(
            train_ids, inputs, targets, weights, vocab_size, space))
        rows[name] = {k: round(float(v), 4) for k, v in row.items()}
        print(f"{name}: model {100 * rows[name]['model']:.2f}%, random "
              f"init {100 * rows[name]['random_init']:.2f}%, unigram "
              f"{100 * rows[name]['unigram_accuracy']:.2f}%, bigram "
              f"{100 * rows[name]['bigram_accuracy']:.2f}%")
    return rows


if __name__ == "__main__":
    main()
