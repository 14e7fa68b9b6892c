"""NNCLR on CIFAR-10 (or scikit-learn's digits): neighbours as positives.

NNCLR (Dwibedi et al., 2021, https://arxiv.org/abs/2104.14548) as in
keras-io's `nnclr` example: SimCLR's two views, but each view's positive is
the nearest neighbour of the other view's projection in a support set of
10,000 past projections (a FIFO queue), found by cosine similarity;
temperature 0.1, projection width 128, no prediction head
(`--predictor-hidden-dim` adds the paper's). The encoder, augmentation,
optimizer and budget are `simclr_cifar.py`'s (ResNet-20, batch 128, SGD
with momentum 0.9 and cosine decay from 0.06 x batch / 256, weight decay
5e-4, 5 epochs), so the two recipes' figures compare methods. Under
`tf.distribute` the queue receives the gathered global batch, so a step on
N replicas equals the single-device step (`kzoo.models.NNCLR`).

Reports the kNN accuracy (k=200, T=0.1) and a linear probe of the
backbone features, each beside the same backbone at random
initialisation, and exports the backbone as an embedding SavedModel.

    python recipes/nnclr_cifar.py --data-dir ../shared/datasets
    python recipes/nnclr_cifar.py --dataset digits --epochs 10 --queue-size 1024
"""

if __name__ == "__main__":
    import _backend  # recipes/_backend.py: kzoo on sys.path, --backend

    _backend.from_argv()  # before kzoo imports Keras

from kzoo import runs  # noqa: E402  (Keras; TensorFlow on its backend only)

KERAS_IO = "keras-io's nnclr example"


def parse_args(argv=None):
    parser = runs.recipe_parser(__doc__)
    runs.add_common_args(
        parser, dataset="cifar10", datasets=("cifar10", "digits"), epochs=5,
        batch_size=128, seed=26, output_dir=None, model_name=None,
        reference="the budget of simclr_cifar.py and simsiam_cifar.py")
    model = parser.add_argument_group("model")
    runs.add_backbone_args(model, "as simclr_cifar.py")
    model.add_argument("--projection-dim", type=runs.positive_int, default=128,
                       help=f"projection width. Default: 128 ({KERAS_IO}).")
    model.add_argument("--predictor-hidden-dim", type=runs.positive_int,
                       default=None,
                       help="hidden width of a prediction head (the paper: "
                       f"4096). Default: none ({KERAS_IO}).")
    model.add_argument("--queue-size", type=runs.positive_int, default=10000,
                       help=f"support-set size. Default: 10000 ({KERAS_IO}).")
    model.add_argument("--temperature", type=runs.positive_float, default=0.1,
                       help=f"softmax temperature. Default: 0.1 ({KERAS_IO}, "
                       "the paper).")
    runs.add_scaled_sgd_args(parser, rate_per_256=0.06,
                             reference="simclr_cifar.py's")
    runs.add_representation_eval_args(parser, probe_epochs=0)
    return runs.scaled_learning_rate(parser.parse_args(argv), 0.06)


def main(argv=None):
    args = parse_args(argv)
    from kzoo import models

    def build(backbone, **kwargs):
        return models.NNCLR(
            backbone, projection_dim=args.projection_dim,
            predictor_hidden_dim=args.predictor_hidden_dim,
            queue_size=args.queue_size, temperature=args.temperature,
            seed=args.seed, **kwargs)

    def record(metrics):
        metrics.update({"temperature": args.temperature,
                        "queue_size": args.queue_size,
                        "learning_rate": args.learning_rate})

    return runs.run_two_view(args, "nnclr", build, optimizer="sgd",
                             before_export=record)


if __name__ == "__main__":
    runs.main_guard(main)
