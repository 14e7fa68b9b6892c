"""DCGAN on CIFAR-10 (or digits): generated images, and the discriminator
as a feature learner.

Radford et al. 2016 (https://arxiv.org/abs/1511.06434), the course's
"redes geradoras": a generator of strided transposed convolutions with
batch norm and ReLU, a discriminator of strided convolutions with batch
norm and LeakyReLU(0.2), Adam 2e-4 with beta_1 0.5, batch 128, noise of
width 128 (`kzoo.models.DCGAN`: one model, one `fit`, both networks
trained with the non-saturating loss, on every Keras backend). The noise
comes from the input pipeline's seeded draws.

Writes a grid of samples from the same 64 noise vectors after every epoch
(`samples/epoch_XXX.png`) and reports:

- the discriminator as an encoder (its blocks' pooled features): kNN
  accuracy and linear probe, beside the same network at random
  initialisation (the paper's use of a GAN as a feature learner);
- sample quality without a download: improved precision and recall
  (Kynkäänniemi et al. 2019, k=3) of 5,000 samples against 5,000 test
  images in the feature space of kzoo's supervised CIFAR-10 encoder (the
  `supcon_resnet20_cifar10` preset) — a stand-in for FID's Inception
  features, comparable between kzoo runs only — beside the untrained
  generator and beside real training images (the ceiling).

    python recipes/dcgan_cifar.py --data-dir ../shared/datasets
    python recipes/dcgan_cifar.py --dataset digits --epochs 20
"""

import argparse
import os
import time

if __name__ == "__main__":
    import _backend  # recipes/_backend.py: kzoo on sys.path, --backend

    _backend.from_argv()  # before kzoo imports Keras

from kzoo import runs  # noqa: E402  (Keras; TensorFlow on its backend only)

DCGAN = "Radford et al. 2016"
QUALITY_PRESET = "supcon_resnet20_cifar10"


def parse_args(argv=None):
    parser = runs.recipe_parser(__doc__)
    model = runs.add_ssl_args(parser, optimizer="adam", learning_rate=2e-4,
                              weight_decay=0.0, reference=DCGAN)
    for action in parser._actions:
        if action.dest == "lr_schedule" or action.dest == "backbone":
            action.help = argparse.SUPPRESS
    model.add_argument("--latent-dim", type=runs.positive_int, default=128,
                       help="noise width. Default: 128.")
    model.add_argument("--width", type=runs.positive_int, default=64,
                       help=f"channels of the discriminator's first block "
                       f"(and the generator's last). Default: 64 ({DCGAN}).")
    model.add_argument("--beta-1", type=runs.unit_interval_float,
                       default=0.5,
                       help=f"Adam's beta_1. Default: 0.5 ({DCGAN}).")
    ev = parser.add_argument_group("sample quality")
    ev.add_argument("--quality-samples", type=runs.non_negative_int,
                    default=5000,
                    help="generated and real images of the precision / "
                    "recall (0: skip it). Default: 5000.")
    ev.add_argument("--quality-k", type=runs.positive_int, default=3,
                    help="k of the precision / recall. Default: 3.")
    args = parser.parse_args(argv)
    args.lr_schedule = "constant"  # the paper's
    return args


def sample_quality(gan, real, train_images, count, k, latent_dim):
    """Precision / recall of `count` samples (and of real training images,
    the ceiling) in the feature space of the supervised preset, or `{}`
    when the preset is not shipped or the images are not 32x32 RGB."""
    import numpy as np

    from kzoo import eval as kz_eval, presets

    if QUALITY_PRESET not in presets.names() or real.shape[1:] != (32, 32, 3):
        return {}
    encoder = presets.load(QUALITY_PRESET).get_layer("resnet20_cifar")
    count = min(count, len(real), len(train_images))
    real_f = kz_eval.embed(encoder, real[:count])
    noise = np.random.default_rng(1).normal(size=(count, latent_dim))
    fake = np.concatenate([np.asarray(gan.generate(
        noise[i:i + 500].astype("float32"))) for i in range(0, count, 500)])
    fake_f = kz_eval.embed(encoder, np.clip(fake * 255.0, 0, 255))
    return {"fake": kz_eval.precision_recall(real_f, fake_f, k),
            "real_train": kz_eval.precision_recall(
                real_f, kz_eval.embed(encoder, train_images[:count]), k),
            "count": count}


def main(argv=None):
    args = parse_args(argv)
    strategy, run, train, test = runs.start(args, prefix="dcgan")

    import keras
    import numpy as np

    from kzoo import data, models, visualize

    size, channels = train.images.shape[1], train.images.shape[3]
    steps = runs.steps_per_epoch(len(train.images), args.batch_size)
    with strategy.scope():
        generator = models.dcgan_generator(args.latent_dim, size, channels,
                                           args.width)
        discriminator = models.dcgan_discriminator(size, channels,
                                                   args.width)
        gan = models.DCGAN(generator, discriminator, seed=args.seed)
        gan.compile(optimizer=runs.build_optimizer(args, steps),
                    jit_compile=args.jit)
        features = models.dcgan_features(discriminator)
    fixed_noise = np.random.default_rng(0).normal(
        size=(64, args.latent_dim)).astype("float32")
    os.makedirs(run.path("samples"), exist_ok=True)

    class SampleGrid(keras.callbacks.Callback):
        """8 x 8 samples of the same noise after every epoch."""

        def on_epoch_end(self, epoch, logs=None):
            if run.chief:
                images = np.asarray(gan.generate(fixed_noise))
                visualize.save_image_grid(
                    run.path("samples", f"epoch_{epoch + 1:03d}.png"),
                    [images[i:i + 8] for i in range(0, 64, 8)], scale=2)

    quality = {}
    if args.quality_samples:
        start = time.time()
        quality["untrained"] = sample_quality(
            gan, test.images, train.images, args.quality_samples,
            args.quality_k, args.latent_dim)
        quality["seconds"] = time.time() - start
    ds = data.pretext_dataset(train.images, args.batch_size,
                              data.NoisePretext(args.latent_dim, "normal"),
                              seed=args.seed, epochs=args.epochs,
                              initial_epoch=run.initial_epoch())

    def before_export(metrics):
        if args.quality_samples:
            trained = sample_quality(gan, test.images, train.images,
                                     args.quality_samples, args.quality_k,
                                     args.latent_dim)
            untrained = quality.get("untrained") or {}
            if trained:
                metrics.update({
                    "sample_precision": trained["fake"]["precision"],
                    "sample_recall": trained["fake"]["recall"],
                    "untrained_sample_precision":
                        untrained["fake"]["precision"],
                    "untrained_sample_recall": untrained["fake"]["recall"],
                    "real_train_precision":
                        trained["real_train"]["precision"],
                    "real_train_recall": trained["real_train"]["recall"],
                    "quality_images": trained["count"],
                    "quality_feature_space": QUALITY_PRESET,
                    "quality_k": args.quality_k})
                print(f"samples: precision {trained['fake']['precision']:.4f}"
                      f", recall {trained['fake']['recall']:.4f} (untrained "
                      f"generator {untrained['fake']['precision']:.4f} / "
                      f"{untrained['fake']['recall']:.4f}; real training "
                      f"images {trained['real_train']['precision']:.4f} / "
                      f"{trained['real_train']['recall']:.4f}) in "
                      f"{QUALITY_PRESET}'s feature space")
            else:
                print(f"note: no sample precision / recall (needs the "
                      f"{QUALITY_PRESET} preset and 32x32 RGB images)")
        metrics["samples_png"] = run.path(
            "samples", f"epoch_{args.epochs:03d}.png")
        run.save_keras(generator, f"{args.model_name}_generator", metrics)

    return runs.train_self_supervised(
        args, strategy, run, train, test, features, gan, ds, steps,
        extra_callbacks=[SampleGrid()], before_export=before_export)


if __name__ == "__main__":
    runs.main_guard(main)
