"""Barlow Twins on CIFAR-10 (or digits), from images to TF Serving.

Barlow Twins (Zbontar et al. 2021, https://arxiv.org/abs/2103.03230;
`kzoo.models.BarlowTwins`): two augmented views of each image go through
the backbone and a three-layer projector, and the loss pushes the
cross-correlation of the two views' standardised embeddings to the
identity, lambda 0.0051 (the paper's) on the off-diagonal terms. The
projector is lightly's and solo-learn's CIFAR-10 one (2048-2048-2048;
keras-io's example uses three layers of 5000 on a ResNet-34); the
optimizer is the one of keras-io's example, LAMB (here at Keras' default
rate 1e-3, cosine decay, no weight decay); the encoder, augmentation and budget are those of simsiam_cifar.py
(ResNet-20, batch 128, 5 epochs), so the figures compare methods, not
budgets.

Why LAMB and not lightly's SGD (0.06 x batch / 256, momentum 0.9): the
loss is a sum over the D x D cross-correlation entries, so its gradients
grow with the projector width (the initial loss is ~D), and plain SGD at
a rate tuned for losses of order 1 wrecks the backbone in short runs (on
a validation split carved from train, 10,000 images, 3 epochs: SGD 0.03
kNN 19.98% and SGD 0.003 23.98%, against 30.68% at random init). The
paper uses LARS, whose per-layer trust ratio sets the step from the
weights' norm instead of the loss's scale; LAMB does the same on top of
Adam (34.88%, +4.2 points; Adam 1e-3 gave 35.10%). `--optimizer sgd
--learning-rate ...` is still there to compare.

Logs `z_std` (kzoo's collapse monitor: ~1 healthy, ~0 collapsed), reports
the kNN accuracy (k=200, T=0.1) and a linear probe of the backbone
features, each beside the same backbone at random initialisation, and
exports the backbone as an embedding SavedModel.

    python recipes/barlow_twins_cifar.py --data-dir ../shared/datasets
    python recipes/barlow_twins_cifar.py --dataset digits --epochs 10
    python recipes/barlow_twins_cifar.py --backend jax --dataset digits   # no TensorFlow
"""

if __name__ == "__main__":
    import _backend  # recipes/_backend.py: kzoo on sys.path, --backend

    _backend.from_argv()  # before kzoo imports Keras

from kzoo import runs  # noqa: E402  (Keras; TensorFlow on its backend only)

LIGHTLY = "lightly's CIFAR-10 Barlow Twins benchmark"
KERAS_IO = "keras-io's Barlow Twins example"


def parse_args(argv=None):
    parser = runs.recipe_parser(__doc__)
    model = runs.add_ssl_args(
        parser, optimizer="lamb", learning_rate=1e-3, weight_decay=0.0,
        reference=KERAS_IO)
    model.add_argument("--projection-dim", type=runs.positive_int,
                       default=2048,
                       help=f"width of each of the projector's three layers. "
                       f"Default: 2048 ({LIGHTLY}).")
    model.add_argument("--lambda", dest="lambda_", type=runs.positive_float,
                       default=0.0051,
                       help="weight of the off-diagonal (redundancy) term. "
                       "Default: 0.0051 (the paper's).")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from kzoo import models

    def build(backbone, **kwargs):
        return models.BarlowTwins(
            backbone, projection_dims=[args.projection_dim] * 3,
            lambda_=args.lambda_, **kwargs)

    return runs.run_two_view(args, "barlow_twins", build)


if __name__ == "__main__":
    runs.main_guard(main)
