"""Rotation prediction (RotNet) on CIFAR-10 (or digits): a pretext task.

Gidaris et al. 2018 (https://arxiv.org/abs/1803.07728): every training
image is fed at 0, 90, 180 and 270 degrees in the same batch
(`kzoo.data.RotationPretext`, so a batch of 128 images is 512 inputs) and
the backbone with a linear head learns to tell the rotation
(4-way softmax). The paper's CIFAR-10 settings: SGD momentum 0.9, weight
decay 5e-4, learning rate 0.1, batch 128 (its 100 epochs become 5 here,
the budget of simsiam_cifar.py), random flips and crops of the images.

Reports the kNN accuracy (k=200, T=0.1) and the linear probe of the
backbone's pooled features beside the same backbone at random
initialisation, and exports the backbone as an embedding SavedModel.

    python recipes/rotation_cifar.py --data-dir ../shared/datasets
    python recipes/rotation_cifar.py --dataset digits --epochs 10
"""

if __name__ == "__main__":
    import _backend  # recipes/_backend.py: kzoo on sys.path, --backend

    _backend.from_argv()  # before kzoo imports Keras

from kzoo import runs  # noqa: E402  (Keras; TensorFlow on its backend only)

PAPER = "Gidaris et al. 2018, CIFAR-10"


def parse_args(argv=None):
    parser = runs.recipe_parser(__doc__)
    model = runs.add_pretext_args(parser, learning_rate=0.1, reference=PAPER)
    model.add_argument("--one-rotation", action="store_true",
                       help="one random rotation per image instead of all "
                       "four (batch of B, not 4B inputs).")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)

    import keras

    from kzoo import data, models

    return runs.run_pretext(
        args, "rotation",
        data.RotationPretext(all_rotations=not args.one_rotation),
        lambda backbone: models.pretext_classifier(backbone, 4,
                                                   name="rotation_net"),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"])


if __name__ == "__main__":
    runs.main_guard(main)
