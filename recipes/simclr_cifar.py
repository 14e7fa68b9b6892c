"""SimCLR on CIFAR-10 (or scikit-learn's digits), from images to TF Serving.

SimCLR (Chen et al., 2020, https://arxiv.org/abs/2002.05709) with the
CIFAR-10 settings of lightly's CIFAR-10 benchmark
(https://docs.lightly.ai/self-supervised-learning/getting_started/benchmarks.html):
projection head as wide as the backbone features with a 128-d output, NT-Xent
temperature 0.5 (also the paper's CIFAR-10 value, appendix B.9), SGD with
momentum 0.9, learning rate 0.06 x batch / 256 with cosine decay, weight
decay 5e-4. The encoder and budget are the ones of `simsiam_cifar.py`
(ResNet-20, batch 128, 5 epochs, kzoo's SimSiam augmentation), so the two
recipes' figures compare methods, not budgets. Reports the kNN accuracy
(k=200, T=0.1) and a linear probe of the backbone features, each beside
the same evaluation of the same backbone at random initialisation, and
exports the backbone as an embedding SavedModel.

    python recipes/simclr_cifar.py                        # CIFAR-10 via TFDS
    python recipes/simclr_cifar.py --data-dir ../shared/datasets
    python recipes/simclr_cifar.py --dataset digits --epochs 10   # no download
    python recipes/simclr_cifar.py --backend jax --dataset digits   # no TensorFlow
"""

if __name__ == "__main__":
    import _backend  # recipes/_backend.py: kzoo on sys.path, --backend

    _backend.from_argv()  # before kzoo imports Keras

from kzoo import runs  # noqa: E402  (Keras; TensorFlow on its backend only)

LIGHTLY = "lightly's CIFAR-10 SimCLR benchmark"


def parse_args(argv=None):
    parser = runs.recipe_parser(__doc__)
    runs.add_common_args(
        parser, dataset="cifar10", datasets=("cifar10", "digits"), epochs=5,
        batch_size=128, seed=26, output_dir=None, model_name=None,
        reference="the budget of simsiam_cifar.py, keras-io's SimSiam example",
    )
    model = parser.add_argument_group("model")
    runs.add_backbone_args(model, "as simsiam_cifar.py")
    model.add_argument("--projection-dim", type=runs.positive_int, default=128,
                       help="projection output width. Default: 128 (the "
                       "paper's, lightly's).")
    model.add_argument("--projection-hidden-dim", type=runs.positive_int,
                       default=None,
                       help="projection hidden width. Default: the backbone "
                       "feature width (the paper's head).")
    model.add_argument("--temperature", type=runs.positive_float, default=0.5,
                       help=f"NT-Xent temperature. Default: 0.5 (SimCLR "
                       f"appendix B.9 for CIFAR-10; {LIGHTLY}).")
    runs.add_scaled_sgd_args(parser, rate_per_256=0.06, reference=LIGHTLY)
    runs.add_representation_eval_args(parser, probe_epochs=0)
    return runs.scaled_learning_rate(parser.parse_args(argv), 0.06)


def main(argv=None):
    args = parse_args(argv)
    from kzoo import models

    def build(backbone, **kwargs):
        return models.SimCLR(
            backbone, projection_dim=args.projection_dim,
            projection_hidden_dims=(None if args.projection_hidden_dim is None
                                    else [args.projection_hidden_dim]),
            temperature=args.temperature, **kwargs)

    def record(metrics):
        metrics.update({"temperature": args.temperature,
                        "learning_rate": args.learning_rate})

    return runs.run_two_view(args, "simclr", build, optimizer="sgd",
                             before_export=record)


if __name__ == "__main__":
    runs.main_guard(main)
