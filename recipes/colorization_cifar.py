"""Colorization on CIFAR-10 (or digits): predict colour from lightness.

Zhang et al. 2016 / Larsson et al. 2016 as a pretext task: the network sees
each image as the grey of its CIE L* lightness and predicts its colour, the
a*b* channels of CIE Lab (divided by 128), with a mean squared error
(`kzoo.data.ColorizationPretext`; regression, not Zhang's classification
over quantised colours). Lab separates the lightness, which the input
carries, from the colour, so the network predicts only what it cannot see.
The model is the backbone's feature map and an upsampling decoder without
skip connections (`kzoo.models.EncoderDecoder`, tanh output). Adam,
learning rate 1e-3 with cosine decay, batch 128, 5 epochs (the budget of
simsiam_cifar.py).

The encoder that is evaluated and exported is the backbone behind
`kzoo.layers.LuminanceGray`: it takes colour images, as every other
method's does, and sees the grey image it was trained on
(`--eval-input color` evaluates the bare backbone on colour instead).
Reports the kNN accuracy (k=200, T=0.1) and the linear probe of its pooled
features beside the same encoder at random initialisation, and exports it
as an embedding SavedModel.

    python recipes/colorization_cifar.py --data-dir ../shared/datasets
    python recipes/colorization_cifar.py --dataset digits --epochs 10
"""

if __name__ == "__main__":
    import _backend  # recipes/_backend.py: kzoo on sys.path, --backend

    _backend.from_argv()  # before kzoo imports Keras

from kzoo import runs  # noqa: E402  (Keras; TensorFlow on its backend only)


def parse_args(argv=None):
    parser = runs.recipe_parser(__doc__)
    model = runs.add_pretext_args(parser, optimizer="adam",
                                  learning_rate=1e-3, weight_decay=0.0)
    model.add_argument("--target", choices=["lab", "rgb"], default="lab",
                       help="colour target: ab of Lab / 128, or RGB in "
                       "[0, 1]. Default: lab.")
    model.add_argument("--eval-input", choices=["gray", "color"],
                       default="gray",
                       help="what the evaluated and exported encoder sees: "
                       "gray = the same grey image as in training, computed "
                       "from the colour input inside the model "
                       "(kzoo.layers.LuminanceGray; how Zhang et al. 2016 "
                       "evaluate their colorization features); color = the "
                       "backbone on colour images, which it never saw. "
                       "Default: gray.")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)

    import keras

    from kzoo import data, models

    from kzoo import layers

    def gray_encoder(backbone, image_shape):
        return keras.Sequential(
            [keras.Input(image_shape), layers.LuminanceGray(), backbone],
            name=f"gray_{backbone.name}")

    lab = args.target == "lab"
    return runs.run_pretext(
        args, "colorization", data.ColorizationPretext(target=args.target),
        lambda backbone: models.EncoderDecoder(
            backbone, output_channels=2 if lab else 3,
            output_activation="tanh" if lab else "sigmoid"),
        keras.losses.MeanSquaredError(),
        encoder=gray_encoder if args.eval_input == "gray" else None)


if __name__ == "__main__":
    runs.main_guard(main)
