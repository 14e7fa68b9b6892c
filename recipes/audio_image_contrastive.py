"""Audio + image contrastive learning: spoken digits <-> handwritten digits.

The course's "multi-domain contrastive learning, audio + image": a
`kzoo.models.DualEncoder` (CLIP, Radford et al. 2021,
https://arxiv.org/abs/2103.00020) learns one embedding space for
recordings of spoken digits (FSDD, 3,000 real recordings, 6 speakers, 8
kHz) and images of handwritten digits (scikit-learn's 8x8 digits at 32 x
32). Every epoch pairs each training recording with a random training
image of its digit (`kzoo.data.cross_modal_pairs`); `ClipLoss` with a
learnable temperature (CLIP's, initial 0.07) treats the other digits of
the batch as negatives and leaves same-digit pairs out of each other's
softmax (they are not negatives: another "3" is also a right answer).

Audio tower: raw waveform -> `LogMelSpectrogram` (25 ms / 10 ms, 64 mel
bands) -> SpecAugment -> a small CNN; image tower: a small CNN; each with
a linear projection to `--embedding-dim`. Adam 1e-3, cosine decay.

Evaluated on FSDD's usual test split (recordings 0-4 of every speaker and
digit, 300 clips, never trained on) against the digits' test images (359),
beside the same model at random initialisation and chance:
  * Recall@1 / @5 audio -> image and image -> audio (a hit = an item of
    the right digit among the k nearest);
  * zero-shot classification of each test recording by the nearest
    image-class centroid (chance 10%).
Exports both towers: the audio one takes raw `float32` waveforms.

    python recipes/audio_image_contrastive.py --data-dir ../shared/datasets
"""

import time

if __name__ == "__main__":
    import _backend  # recipes/_backend.py: kzoo on sys.path, --backend

    _backend.from_argv()  # before kzoo imports Keras

from kzoo import runs  # noqa: E402  (Keras; TensorFlow on its backend only)


def parse_args(argv=None):
    parser = runs.recipe_parser(__doc__)
    runs.add_common_args(
        parser, dataset="fsdd", datasets=("fsdd",), epochs=60, batch_size=64,
        seed=0, output_dir=None, model_name=None,
        reference="2,700 training clips: about 40 s an epoch here")
    model = runs.add_dual_encoder_args(
        parser, clip_seconds=1.0, clip_help="95%% of FSDD is under 0.7 s")
    model.add_argument("--image-widths", default="32,64,128",
                       help="channels of the image tower's conv blocks. "
                       "Default: 32,64,128.")
    return runs.parse_test_split_only(
        parser, argv, "the figures are on FSDD's usual test split")


def evaluate(audio_model, image_model, audio, images, prefix=""):
    """Cross-modal recall both ways and zero-shot accuracy, one dict."""
    from kzoo import eval as keval

    za = audio_model.predict(audio.waveforms, batch_size=256, verbose=0)
    zi = image_model.predict(images.images.astype("float32"),
                             batch_size=256, verbose=0)
    recall = keval.cross_modal_recall(za, audio.labels, zi, images.labels,
                                      ks=(1, 5))
    metrics = {
        "audio_to_image_recall@1": recall["a_to_b_recall@1"],
        "audio_to_image_recall@5": recall["a_to_b_recall@5"],
        "image_to_audio_recall@1": recall["b_to_a_recall@1"],
        "image_to_audio_recall@5": recall["b_to_a_recall@5"],
        "zero_shot_accuracy": keval.nearest_centroid_accuracy(
            za, audio.labels, zi, images.labels),
    }
    return {prefix + k: round(float(v), 4) for k, v in metrics.items()}


def main(argv=None):
    args = parse_args(argv)
    widths = tuple(int(w) for w in args.widths.split(","))
    image_widths = tuple(int(w) for w in args.image_widths.split(","))
    strategy, run = runs.open_run(args, prefix="audio_image")

    import numpy as np

    from kzoo import data, models

    num_samples = int(round(args.clip_seconds * 8000))
    audio_train = data.load_fsdd("train", args.data_dir, num_samples,
                                 args.limit)
    audio_test = data.load_fsdd("test", args.data_dir, num_samples)
    digits_train = data.load_digits("train")
    digits_test = data.load_digits("test")
    print(f"data: {len(audio_train.labels)} train / {len(audio_test.labels)} "
          f"test recordings ({num_samples} samples), "
          f"{len(digits_train.labels)} / {len(digits_test.labels)} digit "
          "images")

    steps = runs.steps_per_epoch(len(audio_train.labels), args.batch_size)
    with strategy.scope():
        audio_tower = models.audio_encoder(
            num_samples, num_mel_bins=args.num_mel_bins, widths=widths,
            seed=args.seed)
        image_tower = models.small_image_encoder(
            digits_train.images.shape[1:], widths=image_widths)
        model = models.DualEncoder(audio_tower, image_tower,
                                   embedding_dim=args.embedding_dim,
                                   temperature=args.temperature)
        model.compile(optimizer=runs.build_optimizer(args, steps),
                      jit_compile=args.jit)
        audio_model = model.embedding_model("a")
        image_model = model.embedding_model("b")

    chance = {"chance_recall@1": 0.1, "chance_zero_shot_accuracy": 0.1}
    metrics = evaluate(audio_model, image_model, audio_test, digits_test,
                       "random_init_")
    runs.print_metrics("random init", metrics)

    ds = data.cross_modal_pairs(audio_train.waveforms, audio_train.labels,
                                digits_train.images.astype(np.float32),
                                digits_train.labels, args.batch_size,
                                seed=args.seed, epochs=args.epochs,
                                initial_epoch=run.initial_epoch())
    start = time.time()
    history = model.fit(ds, epochs=args.epochs, steps_per_epoch=steps,
                        callbacks=run.callbacks(), verbose=run.verbose)
    metrics.update(runs.fit_summary(history, time.time() - start, steps,
                                    args, strategy))
    metrics["history"] = {k: [float(v) for v in vals]
                          for k, vals in history.history.items()}
    metrics.update(evaluate(audio_model, image_model, audio_test,
                            digits_test))
    metrics.update(chance)
    metrics["train_recordings"] = len(audio_train.labels)
    metrics["test_recordings"] = len(audio_test.labels)
    metrics["test_images"] = len(digits_test.labels)
    runs.print_metrics("trained", {k: v for k, v in metrics.items()
                                   if k.startswith(("audio_", "image_",
                                                    "zero_"))})

    # Off TensorFlow: .keras files and the commands exporting them.
    run.export_model("audio_embedding", audio_model, metrics,
                     f"{args.model_name}_audio", key="saved_model_audio",
                     num_samples=num_samples)
    run.export_model("embedding", image_model, metrics,
                     f"{args.model_name}_image", key="saved_model_image",
                     image_shape=list(digits_train.images.shape[1:]))
    if "saved_model_audio" in metrics:
        print(f"SavedModels: {metrics['saved_model_audio']}, "
              f"{metrics['saved_model_image']}")
    run.finish(metrics)
    print(f"result: audio->image Recall@1 "
          f"{100 * metrics['audio_to_image_recall@1']:.2f}% vs "
          f"{100 * metrics['random_init_audio_to_image_recall@1']:.2f}% at "
          f"random init (chance 10%); zero-shot accuracy "
          f"{100 * metrics['zero_shot_accuracy']:.2f}% vs "
          f"{100 * metrics['random_init_zero_shot_accuracy']:.2f}% "
          "(chance 10%)")
    return metrics


if __name__ == "__main__":
    runs.main_guard(main)
