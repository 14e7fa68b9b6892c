"""SimSiam on CIFAR-10 (or scikit-learn's digits), from images to TF Serving.

Defaults reproduce keras-io's "Self-supervised contrastive learning with
SimSiam" (https://keras.io/examples/vision/simsiam/): ResNet-20, batch 128,
5 epochs, SGD momentum 0.6 with cosine decay from 0.03, projector 2048,
predictor bottleneck 512, weight decay 5e-4. Reports the kNN accuracy
(k=200, T=0.1) and the linear-probe accuracy of the backbone features, each
beside the same evaluation of the same backbone at random initialisation,
and exports the backbone as an embedding SavedModel.

    python recipes/simsiam_cifar.py                       # CIFAR-10 via TFDS
    python recipes/simsiam_cifar.py --data-dir ../shared/datasets
    python recipes/simsiam_cifar.py --dataset digits --epochs 10   # no download
    python recipes/simsiam_cifar.py --backend jax --data-dir ../shared/datasets
        # Keras' JAX backend (or KERAS_BACKEND=jax), TensorFlow not needed:
        # views drawn on the device, backbone.keras + the export command
"""

if __name__ == "__main__":
    import _backend  # recipes/_backend.py: kzoo on sys.path, --backend

    _backend.from_argv()  # before kzoo imports Keras

from kzoo import runs  # noqa: E402  (Keras; TensorFlow on its backend only)

KERAS_IO = "keras-io SimSiam example"


def parse_args(argv=None):
    parser = runs.recipe_parser(__doc__)
    runs.add_common_args(
        parser, dataset="cifar10", datasets=("cifar10", "digits"), epochs=5,
        batch_size=128, seed=26, output_dir=None, model_name=None,
        reference=KERAS_IO,
    )
    model = parser.add_argument_group("model")
    runs.add_backbone_args(model, KERAS_IO)
    model.add_argument("--projection-dim", type=runs.positive_int, default=2048,
                       help=f"projector width. Default: 2048 ({KERAS_IO}).")
    model.add_argument("--predictor-dim", type=runs.positive_int, default=512,
                       help=f"predictor bottleneck. Default: 512 ({KERAS_IO}).")
    opt = parser.add_argument_group("optimizer")
    opt.add_argument("--learning-rate", type=runs.positive_float, default=0.03,
                     help=f"initial learning rate of the cosine decay, for the "
                     f"global batch. Default: 0.03 ({KERAS_IO}).")
    opt.add_argument("--momentum", type=runs.non_negative_float, default=0.6,
                     help=f"SGD momentum. Default: 0.6 ({KERAS_IO}).")
    opt.add_argument("--weight-decay", type=runs.non_negative_float,
                     default=5e-4,
                     help=f"decoupled weight decay of SGD. Default: 5e-4 "
                     f"({KERAS_IO}'s L2 value; keras-io's custom train_step "
                     f"never adds its regularisation losses).")
    runs.add_representation_eval_args(
        parser, probe_epochs=5,
        probe_help=f"epochs of the linear probe trained through the frozen "
        f"backbone on flipped images, the protocol behind keras-io's "
        f"23.03%%. Default: 5 ({KERAS_IO}).")
    args = parser.parse_args(argv)
    return args


def main(argv=None):
    args = parse_args(argv)
    from kzoo import models

    def build(backbone, **kwargs):
        return models.SimSiam(
            backbone, projection_dim=args.projection_dim,
            projection_hidden_dims=[args.projection_dim],
            predictor_dim=args.predictor_dim, **kwargs)

    return runs.run_two_view(args, "simsiam", build, optimizer="sgd")


if __name__ == "__main__":
    runs.main_guard(main)
