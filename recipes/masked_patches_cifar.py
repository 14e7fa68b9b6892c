"""Masked-patch autoencoding on CIFAR-10 (or digits), MAE's objective on a CNN.

He et al. 2021's objective with a convolutional encoder-decoder: each
image is cut into 4 x 4 patches, 75% of them chosen at random are set to 0
(`kzoo.data.MaskedPatchPretext`), and the network reconstructs the image
with a squared error counted on the masked patches only
(`kzoo.losses.MaskedReconstructionLoss`): what it could copy is free, what
it must infer is scored. The model is the backbone's feature map and an
upsampling decoder without skip connections (`kzoo.models.EncoderDecoder`,
sigmoid output). A CNN sees the zeroed patches (a ViT would drop them),
so the encoder works on a masked image rather than on the visible patches
alone. Adam, learning rate 1e-3 with cosine decay, batch 128, 5 epochs
(the budget of simsiam_cifar.py).

Reports the kNN accuracy (k=200, T=0.1) and the linear probe of the
backbone's pooled features beside the same backbone at random
initialisation, and exports the backbone as an embedding SavedModel.

    python recipes/masked_patches_cifar.py --data-dir ../shared/datasets
    python recipes/masked_patches_cifar.py --mask-ratio 0.5 --patch-size 8
"""

if __name__ == "__main__":
    import _backend  # recipes/_backend.py: kzoo on sys.path, --backend

    _backend.from_argv()  # before kzoo imports Keras

from kzoo import runs  # noqa: E402  (Keras; TensorFlow on its backend only)

MAE = "He et al. 2021"


def parse_args(argv=None):
    parser = runs.recipe_parser(__doc__)
    model = runs.add_pretext_args(parser, optimizer="adam",
                                  learning_rate=1e-3, weight_decay=0.0)
    model.add_argument("--patch-size", type=runs.positive_int, default=4,
                       help="patch side in px. Default: 4.")
    model.add_argument("--mask-ratio", type=runs.unit_interval_float,
                       default=0.75,
                       help=f"fraction of patches masked. Default: 0.75 "
                       f"({MAE}).")
    args = parser.parse_args(argv)
    if args.mask_ratio <= 0:
        parser.error("--mask-ratio must be > 0")
    return args


def main(argv=None):
    args = parse_args(argv)

    from kzoo import data, losses, models

    return runs.run_pretext(
        args, "masked_patches",
        data.MaskedPatchPretext(patch_size=args.patch_size,
                                mask_ratio=args.mask_ratio),
        lambda backbone: models.EncoderDecoder(backbone, output_channels=3),
        losses.MaskedReconstructionLoss())


if __name__ == "__main__":
    runs.main_guard(main)
