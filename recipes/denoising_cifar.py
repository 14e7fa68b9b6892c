"""A denoising autoencoder on CIFAR-10 (or digits): restore clean images.

Vincent et al. 2008 as a pretext task: the network sees each image with
Gaussian noise (standard deviation 0.1 of the pixel range, clipped) or
masking noise (a quarter of the pixels set to 0, `--noise masking`) and
reconstructs the clean image with a mean squared error
(`kzoo.data.DenoisingPretext`). The model is the backbone's feature map
and an upsampling decoder without skip connections
(`kzoo.models.EncoderDecoder`, sigmoid output). Adam, learning rate 1e-3
with cosine decay, batch 128, 5 epochs (the budget of simsiam_cifar.py).

Reports the kNN accuracy (k=200, T=0.1) and the linear probe of the
backbone's pooled features beside the same backbone at random
initialisation, and exports the backbone as an embedding SavedModel.

    python recipes/denoising_cifar.py --data-dir ../shared/datasets
    python recipes/denoising_cifar.py --noise masking --mask-fraction 0.5
"""

if __name__ == "__main__":
    import _backend  # recipes/_backend.py: kzoo on sys.path, --backend

    _backend.from_argv()  # before kzoo imports Keras

from kzoo import runs  # noqa: E402  (Keras; TensorFlow on its backend only)

VINCENT = "Vincent et al. 2008"


def parse_args(argv=None):
    parser = runs.recipe_parser(__doc__)
    model = runs.add_pretext_args(parser, optimizer="adam",
                                  learning_rate=1e-3, weight_decay=0.0)
    model.add_argument("--noise", choices=["gaussian", "masking"],
                       default="gaussian",
                       help="corruption. Default: gaussian.")
    model.add_argument("--stddev", type=runs.positive_float, default=0.1,
                       help="Gaussian noise std, as a fraction of the pixel "
                       "range. Default: 0.1.")
    model.add_argument("--mask-fraction", type=runs.unit_interval_float,
                       default=0.25,
                       help=f"fraction of pixels zeroed by masking noise. "
                       f"Default: 0.25 ({VINCENT}).")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)

    import keras

    from kzoo import data, models

    return runs.run_pretext(
        args, "denoising",
        data.DenoisingPretext(noise=args.noise, stddev=args.stddev,
                              mask_fraction=args.mask_fraction),
        lambda backbone: models.EncoderDecoder(backbone, output_channels=3),
        keras.losses.MeanSquaredError())


if __name__ == "__main__":
    runs.main_guard(main)
