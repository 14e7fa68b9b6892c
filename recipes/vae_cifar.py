"""A variational autoencoder on CIFAR-10 (or digits): a generative pretext.

The course's "generative networks" as a self-supervised task: a VAE
(Kingma & Welling, 2014; `kzoo.models.VAE`) whose encoder is the same
ResNet-20 backbone as the other self-supervised recipes learns to
reconstruct its input through a 128-d Gaussian latent. Defaults follow
keras-io's VAE example (https://keras.io/examples/generative/vae/: Adam
with Keras' default learning rate 1e-3, batch 128, binary cross-entropy
reconstruction summed over pixels plus the KL term); its 30 MNIST epochs
become 5 here (the budget of simsiam_cifar.py). Training images are
flipped at random.

Reports the kNN accuracy (k=200, T=0.1) and the feature linear probe of the
backbone's pooled features beside the same backbone at random
initialisation, writes `samples.png` (first row: test images; second:
their reconstructions; then samples from the prior) into the run
directory, and exports the backbone as an embedding SavedModel.

    python recipes/vae_cifar.py --data-dir ../shared/datasets
    python recipes/vae_cifar.py --dataset digits --epochs 10   # no download
"""

if __name__ == "__main__":
    import _backend  # recipes/_backend.py: kzoo on sys.path, --backend

    _backend.from_argv()  # before kzoo imports Keras

from kzoo import runs  # noqa: E402  (Keras; TensorFlow on its backend only)

KERAS_IO = "keras-io VAE example"


def parse_args(argv=None):
    parser = runs.recipe_parser(__doc__)
    model = runs.add_ssl_args(parser, optimizer="adam", learning_rate=1e-3,
                              weight_decay=0.0, reference=KERAS_IO)
    model.add_argument("--latent-dim", type=runs.positive_int, default=128,
                       help="dimension of the Gaussian latent. Default: 128.")
    model.add_argument("--beta", type=runs.non_negative_float, default=1.0,
                       help="weight of the KL term (1: the ELBO). "
                       "Default: 1.0.")
    return parser.parse_args(argv)


def write_samples(path, model, test_images, seed):
    import keras
    import numpy as np

    from kzoo import visualize

    originals = test_images[:10]
    recon = model(originals.astype("float32"))["reconstruction"]
    samples = model.sample(20, seed=seed)
    rows = [originals, keras.ops.convert_to_numpy(recon),
            *np.split(keras.ops.convert_to_numpy(samples), 2)]
    visualize.save_image_grid(path, rows, scale=2)
    print(f"samples and reconstructions: {path}")
    return path


def main(argv=None):
    args = parse_args(argv)
    strategy, run, train, test = runs.start(args, prefix="vae")

    import tensorflow as tf

    from kzoo import data, models

    steps = runs.steps_per_epoch(len(train.images), args.batch_size)
    with strategy.scope():
        backbone = runs.build_backbone(args, train.images.shape[1:], strategy)
        model = models.VAE(backbone, latent_dim=args.latent_dim,
                           beta=args.beta, seed=args.seed)
        model.compile(optimizer=runs.build_optimizer(args, steps),
                      jit_compile=args.jit)

    seeds = tf.data.Dataset.random(seed=args.seed,
                                   rerandomize_each_iteration=True).batch(2)
    ds = (tf.data.Dataset.from_tensor_slices(train.images)
          .shuffle(len(train.images), seed=args.seed)
          .batch(args.batch_size, drop_remainder=True))
    ds = tf.data.Dataset.zip((ds, seeds)).map(
        lambda x, s: data.random_flip_left_right(tf.cast(x, tf.float32), s),
        num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)

    def before_export(metrics):
        metrics["samples_png"] = write_samples(
            run.path("samples.png"), model, test.images, args.seed)

    return runs.train_self_supervised(args, strategy, run, train, test,
                                      backbone, model, ds, steps,
                                      before_export=before_export)


if __name__ == "__main__":
    runs.main_guard(main)
