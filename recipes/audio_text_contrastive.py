"""Audio + text contrastive learning: spoken Portuguese words <-> their text.

The course's "multi-domain contrastive learning, audio + text": a
`kzoo.models.DualEncoder` (CLIP, Radford et al. 2021,
https://arxiv.org/abs/2103.00020) embeds recordings of Portuguese words
(`../shared/datasets/spoken_words_pt`: 1,000 words x 4 synthetic voices,
8 kHz) and the words' characters in one space. Audio tower: raw waveform
-> `LogMelSpectrogram` -> SpecAugment -> a small CNN (as
`audio_image_contrastive.py`); text tower: a small character transformer
(`kzoo.models.char_transformer`, pooled over the characters), on the
character vocabulary of fortunes-br (the corpus the words come from,
accents included). Each clip is paired with its word's text;
`ClipLoss` leaves two clips of the same word in one batch out of each
other's softmax (their texts are identical, so neither is a negative).

The split is by word: the 200 test words (800 clips) are never seen in
training. Reported on them, beside the same model at random
initialisation and chance (0.5% for Recall@1 audio -> text among 200
words):
  * Recall@1/5/10 audio -> text (each clip searched among the 200 texts);
  * Recall@1/5/10 text -> audio (each text among the 800 clips; a hit is
    any of its 4 voices).
One voice (`--held-out-voice`, default pt-br+f4) is also kept out of
training: its 800 clips of the training words are searched among the 800
training words (seen words, unseen voice; chance 0.125%), so training
uses 2,400 clips (800 words x 3 voices).
Exports both towers (raw waveforms; UTF-8 strings).

`--text-init` starts the text tower from a masked character model
(`recipes/masked_text.py`'s, a preset name or a run directory): its
architecture, weights and vocabulary (`kzoo.models.
text_encoder_from_masked_model`; `--text-dim` / `--text-depth` then do not
apply); with `--text-init-architecture-only` the same architecture starts
at random, the baseline that isolates what the pretraining brings.

    python recipes/audio_text_contrastive.py --data-dir ../shared/datasets
    python recipes/audio_text_contrastive.py --data-dir ../shared/datasets \
        --text-init masked_text_chartransformer_fortunes_pt_docs
"""

import time

if __name__ == "__main__":
    import _backend  # recipes/_backend.py: kzoo on sys.path, --backend

    _backend.from_argv()  # before kzoo imports Keras

from kzoo import runs  # noqa: E402  (Keras; TensorFlow on its backend only)


def parse_args(argv=None):
    parser = runs.recipe_parser(__doc__)
    runs.add_common_args(
        parser, dataset="spoken_words_pt", datasets=("spoken_words_pt",),
        epochs=90, batch_size=64, seed=0, output_dir=None, model_name=None,
        reference="2,400 training clips")
    model = runs.add_dual_encoder_args(
        parser, clip_seconds=1.25, clip_help="the longest clip is 1.2 s")
    model.add_argument("--text-dim", type=runs.positive_int, default=64,
                       help="width of the text transformer. Default: 64.")
    model.add_argument("--text-depth", type=runs.positive_int, default=2,
                       help="blocks of the text transformer. Default: 2.")
    model.add_argument("--text-length", type=runs.positive_int, default=16,
                       help="characters per word (the longest has 12). "
                       "Default: 16.")
    model.add_argument("--text-init", default="",
                       help="a masked character model to start the text "
                       "tower from: a preset name or a masked_text.py run "
                       "directory (masked_language_model.keras, "
                       "vocabulary.json); its vocabulary replaces "
                       "fortunes-br's. Default: '' (a new tower).")
    model.add_argument("--text-init-architecture-only", action="store_true",
                       help="with --text-init: its architecture and "
                       "vocabulary, random weights (the baseline).")
    model.add_argument("--held-out-voice", default="pt-br+f4",
                       help="a voice whose clips of the training words are "
                       "kept out of training and searched among the 800 "
                       "training words (seen words, unseen voice; chance "
                       "0.125%%); '' trains on all 4 voices. Default: "
                       "pt-br+f4.")
    return runs.parse_test_split_only(
        parser, argv, "the figures are on the held-out words")


def evaluate(audio_model, text_model, audio, text_ids, text_labels,
             prefix=""):
    from kzoo import eval as keval

    za = audio_model.predict(audio.waveforms, batch_size=256, verbose=0)
    zt = text_model.predict(text_ids, batch_size=256, verbose=0)
    recall = keval.cross_modal_recall(za, audio.labels, zt, text_labels,
                                      ks=(1, 5, 10))
    out = {}
    for k in (1, 5, 10):
        out[f"audio_to_text_recall@{k}"] = recall[f"a_to_b_recall@{k}"]
        out[f"text_to_audio_recall@{k}"] = recall[f"b_to_a_recall@{k}"]
    return {prefix + k: round(float(v), 4) for k, v in out.items()}


def subset(audio, keep):
    """The clips of an `AudioDataset` where the boolean array `keep` is
    true."""
    import numpy as np

    idx = np.flatnonzero(keep)
    return type(audio)(audio.waveforms[idx], audio.labels[idx],
                       [audio.texts[i] for i in idx],
                       [audio.speakers[i] for i in idx], audio.sampling_rate,
                       [audio.files[i] for i in idx])


def unique_words(audio):
    """`(texts, labels)` of each distinct word of an `AudioDataset`, once."""
    seen = {}
    for text, label in zip(audio.texts, audio.labels.tolist()):
        seen.setdefault(label, text)
    labels = sorted(seen)
    return [seen[k] for k in labels], labels


def main(argv=None):
    args = parse_args(argv)
    widths = tuple(int(w) for w in args.widths.split(","))
    strategy, run = runs.open_run(args, prefix="audio_text")

    import numpy as np

    from kzoo import data, models

    num_samples = int(round(args.clip_seconds * 8000))
    train = data.load_spoken_words("train", args.data_dir, num_samples,
                                   args.limit)
    test = data.load_spoken_words("test", args.data_dir, num_samples)
    voices = sorted(set(train.speakers) | set(test.speakers))
    new_voice = None
    if args.held_out_voice:
        if args.held_out_voice not in voices:
            raise SystemExit(f"--held-out-voice must be one of {voices} or "
                             f"''. Received: --held-out-voice="
                             f"{args.held_out_voice!r}")
        is_held = np.array(train.speakers) == args.held_out_voice
        new_voice, train = subset(train, is_held), subset(train, ~is_held)
    try:
        corpus = data.split_entries(data.load_text_entries(args.data_dir),
                                    seed=0)[0]
    except data.DataUnavailableError:
        corpus = []
    masked = None
    if args.text_init:
        try:
            masked, vocab = models.load_masked_model(args.text_init)
        except ValueError as e:
            raise SystemExit(f"--text-init: {e}")
    elif args.text_init_architecture_only:
        raise SystemExit("--text-init-architecture-only needs --text-init")
    else:
        vocab = data.char_vocabulary(corpus + train.texts)
    vocab_size = len(vocab) + 2
    train_words, train_word_ids = unique_words(train)
    if new_voice is not None:
        # Only words trained on (with --limit some may have no other clip).
        new_voice = subset(new_voice, np.isin(new_voice.labels,
                                              train_word_ids))
    test_words, test_word_ids = unique_words(test)
    encode = lambda words: data.encode_characters(  # noqa: E731
        words, vocab, args.text_length)
    print(f"data: {len(train.labels)} train clips of {len(train_words)} "
          f"words / {len(test.labels)} test clips of {len(test_words)} "
          f"held-out words ({num_samples} samples); {len(vocab) - 1} "
          "characters")
    if new_voice is not None:
        print(f"seen words, unseen voice: {len(new_voice.labels)} clips of "
              f"{args.held_out_voice} searched among {len(train_words)} "
              "training words")

    steps = runs.steps_per_epoch(len(train.labels), args.batch_size)
    with strategy.scope():
        audio_tower = models.audio_encoder(
            num_samples, num_mel_bins=args.num_mel_bins, widths=widths,
            seed=args.seed)
        if masked is not None:
            text_tower = models.text_encoder_from_masked_model(
                masked, args.text_length,
                weights=not args.text_init_architecture_only)
        else:
            text_tower = models.char_transformer(
                vocab_size, args.text_length, dim=args.text_dim,
                depth=args.text_depth, heads=4, mlp_dim=2 * args.text_dim,
                pooled=True, name="text_encoder")
        model = models.DualEncoder(audio_tower, text_tower,
                                   embedding_dim=args.embedding_dim,
                                   temperature=args.temperature)
        model.compile(optimizer=runs.build_optimizer(args, steps),
                      jit_compile=args.jit)
        audio_model = model.embedding_model("a")
        text_model = model.embedding_model("b")

    test_text_ids = encode(test_words)
    train_text_ids = encode(train_words)

    def evaluate_all(prefix=""):
        out = evaluate(audio_model, text_model, test, test_text_ids,
                       test_word_ids, prefix)
        if new_voice is not None:
            out.update(evaluate(audio_model, text_model, new_voice,
                                train_text_ids, train_word_ids,
                                prefix + "new_voice_"))
        return out

    metrics = evaluate_all("random_init_")
    runs.print_metrics("random init", metrics)

    ds = data.cross_modal_pairs(train.waveforms, train.labels,
                                train_text_ids, np.asarray(train_word_ids),
                                args.batch_size, seed=args.seed,
                                epochs=args.epochs,
                                initial_epoch=run.initial_epoch())
    start = time.time()
    history = model.fit(ds, epochs=args.epochs, steps_per_epoch=steps,
                        callbacks=run.callbacks(), verbose=run.verbose)
    metrics.update(runs.fit_summary(history, time.time() - start, steps,
                                    args, strategy))
    metrics["history"] = {k: [float(v) for v in vals]
                          for k, vals in history.history.items()}
    metrics.update(evaluate_all())
    n = len(test_words)
    metrics.update({"chance_audio_to_text_recall@1": round(1 / n, 4),
                    "test_words": n, "test_clips": len(test.labels),
                    "train_clips": len(train.labels),
                    "voices": voices,
                    "held_out_voice": args.held_out_voice or None,
                    "text_init": args.text_init or None,
                    "text_init_weights": (
                        None if not args.text_init else "random"
                        if args.text_init_architecture_only
                        else "pretrained")})
    if new_voice is not None:
        metrics.update({
            "new_voice_clips": len(new_voice.labels),
            "new_voice_words": len(train_words),
            "chance_new_voice_audio_to_text_recall@1": round(
                1 / len(train_words), 5)})
    runs.print_metrics("trained", {k: v for k, v in metrics.items()
                                   if k.startswith(("audio_to", "text_to"))})

    # Off TensorFlow: .keras files and the commands exporting them.
    run.export_model("audio_embedding", audio_model, metrics,
                     f"{args.model_name}_audio", key="saved_model_audio",
                     num_samples=num_samples)
    run.export_model("text_embedding", text_model, metrics,
                     f"{args.model_name}_text", key="saved_model_text",
                     vocabulary=list(vocab),
                     sequence_length=args.text_length)
    if "saved_model_audio" in metrics:
        print(f"SavedModels: {metrics['saved_model_audio']}, "
              f"{metrics['saved_model_text']}")
    run.finish(metrics)
    print(f"result: audio->text Recall@1 "
          f"{100 * metrics['audio_to_text_recall@1']:.2f}% vs "
          f"{100 * metrics['random_init_audio_to_text_recall@1']:.2f}% at "
          f"random init (chance {100 / n:.2f}%) among {n} held-out words; "
          f"text->audio Recall@1 "
          f"{100 * metrics['text_to_audio_recall@1']:.2f}%")
    if new_voice is not None:
        print(f"result: seen words, unseen voice {args.held_out_voice}: "
              f"audio->text Recall@1 "
              f"{100 * metrics['new_voice_audio_to_text_recall@1']:.2f}% vs "
              f"{100 * metrics['random_init_new_voice_audio_to_text_recall@1']:.2f}%"
              f" at random init (chance "
              f"{100 / len(train_words):.3f}%) among {len(train_words)} "
              "training words")
    return metrics


if __name__ == "__main__":
    runs.main_guard(main)
