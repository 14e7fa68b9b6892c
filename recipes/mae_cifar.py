"""Masked autoencoder (MAE) with a small ViT on CIFAR-10 (or digits).

He et al. 2021 (https://arxiv.org/abs/2111.06377) at the size of keras-io's
`masked_image_modeling` example: 4 x 4 patches of 32 x 32 images (64
tokens), a ViT encoder of width 128, 6 blocks of 4 heads
(`kzoo.models.vit_tiny_cifar`), a decoder of width 64 and 2 blocks, 75% of
the patches dropped per image (dropped, not zeroed: the encoder sees the 16
visible tokens only, unlike `masked_patches_cifar.py`, which zeroes patches
of a CNN's input), and the squared error on the masked patches of the
per-patch normalised pixels (`kzoo.models.MaskedAutoencoder`). The masks
come from the input pipeline's seeded noise, so a seed gives the same
masks on any strategy. AdamW (MAE: weight decay 0.05, betas 0.9 / 0.95;
here Keras' default betas) with a cosine decay and a warm-up, batch 128.

Reports the kNN accuracy (k=200, T=0.1) and the linear probe of the
encoder's mean-pooled tokens, each beside the same ViT at random
initialisation, draws `reconstructions.png` (test images, their visible
patches, the reconstruction with the visible patches pasted back; with
the normalised-pixel loss a predicted patch is brought back to pixels with
the mean and spread of the image's visible patches, since its own would
leak it), and
exports the encoder as an embedding SavedModel.

    python recipes/mae_cifar.py --data-dir ../shared/datasets
    python recipes/mae_cifar.py --dataset digits --epochs 10
"""

import argparse

if __name__ == "__main__":
    import _backend  # recipes/_backend.py: kzoo on sys.path, --backend

    _backend.from_argv()  # before kzoo imports Keras

from kzoo import runs  # noqa: E402  (Keras; TensorFlow on its backend only)

MAE = "He et al. 2021"
KERAS_IO = "keras-io's masked_image_modeling"


def parse_args(argv=None):
    parser = runs.recipe_parser(__doc__)
    model = runs.add_pretext_args(parser, optimizer="adamw",
                                  learning_rate=1.5e-3, weight_decay=0.05,
                                  reference=MAE, learning_rate_text=(
                                      "1.5e-3 (MAE's 1.5e-4 x batch / 256 "
                                      "at batch 2560)"))
    for action in parser._actions:
        if action.dest == "backbone":
            action.default = "vit_tiny"
            action.help = ("the encoder: only 'vit_tiny' (a masked "
                           "autoencoder drops patch tokens, which a CNN has "
                           "not; masked_patches_cifar.py is the CNN "
                           "version). Default: vit_tiny.")
        elif action.dest == "warmup_epochs":
            action.default = 1
            action.help = ("linear warm-up epochs before the cosine decay. "
                           f"Default: 1 ({MAE} warm up; 40 of 800 epochs).")
    model.add_argument("--mask-ratio", type=runs.unit_interval_float,
                       default=0.75,
                       help=f"fraction of the patches dropped. Default: 0.75 "
                       f"({MAE}).")
    model.add_argument("--decoder-dim", type=runs.positive_int, default=64,
                       help=f"decoder width. Default: 64 ({KERAS_IO}).")
    model.add_argument("--decoder-depth", type=runs.positive_int, default=2,
                       help=f"decoder blocks. Default: 2 ({KERAS_IO}).")
    model.add_argument("--norm-pix-loss",
                       action=argparse.BooleanOptionalAction,
                       default=True,
                       help=f"normalise each target patch by its mean and "
                       f"variance. Default: on ({MAE}).")
    model.add_argument("--png-images", type=runs.positive_int, default=8,
                       help="test images drawn in reconstructions.png. "
                       "Default: 8.")
    args = parser.parse_args(argv)
    if args.backbone != "vit_tiny":
        parser.error(f"--backbone must be vit_tiny (a masked autoencoder "
                     f"drops patch tokens). Received: --backbone "
                     f"{args.backbone}")
    if not 0 < args.mask_ratio < 1:
        parser.error(f"--mask-ratio must be in (0, 1), got {args.mask_ratio}")
    return args


def draw_reconstructions(path, model, images, seed=0):
    """Rows: originals, their visible patches, reconstructions (visible
    patches pasted back). Returns `path`."""
    import numpy as np
    from keras import ops

    from kzoo import models, visualize

    vit, p = model.vit, model.vit.patch_size
    noise = np.random.default_rng(seed).random(
        (len(images), vit.num_patches)).astype("float32")
    x = images.astype("float32")
    out = model.forward(ops.convert_to_tensor(x),
                        ops.convert_to_tensor(noise))
    pred = ops.convert_to_numpy(out["pred"]).astype("float64")
    mask = ops.convert_to_numpy(out["mask"])[..., None]
    target = ops.convert_to_numpy(models.patchify(x / 255.0, p))
    if model.norm_pix_loss:
        # Back to pixels. A masked patch's own mean and spread would leak
        # it (on the upscaled digits each patch is one flat pixel): use
        # the averages of the image's visible patches instead.
        visible_patch = 1.0 - mask
        count = np.maximum(visible_patch.sum(axis=1, keepdims=True), 1.0)
        mean = (target.mean(-1, keepdims=True) * visible_patch).sum(
            axis=1, keepdims=True) / count
        std = (np.sqrt(target.var(-1, keepdims=True) + 1e-6)
               * visible_patch).sum(axis=1, keepdims=True) / count
        pred = pred * std + mean
    filled = np.where(mask > 0, np.clip(pred, 0, 1), target)
    visible = np.where(mask > 0, 0.5, target)

    def image(patches):
        return ops.convert_to_numpy(models.unpatchify(
            patches.astype("float32"), p, images.shape[-1]))

    return visualize.save_image_grid(
        path, [x / 255.0, image(visible), image(filled)], scale=3)


def main(argv=None):
    args = parse_args(argv)

    from kzoo import data, models

    grid = 32 // 4  # vit_tiny_cifar: 4x4 patches of 32x32 images

    def build(backbone):
        return models.MaskedAutoencoder(
            backbone, mask_ratio=args.mask_ratio,
            decoder_dim=args.decoder_dim, decoder_depth=args.decoder_depth,
            norm_pix_loss=args.norm_pix_loss)

    def before_export(metrics, model, test):
        import os

        metrics["reconstructions_png"] = draw_reconstructions(
            os.path.join(args.output_dir, "reconstructions.png"), model,
            test.images[:args.png_images])
        metrics.update(mask_ratio=args.mask_ratio,
                       visible_patches=model.num_keep,
                       num_patches=model.vit.num_patches)

    # each image's uniform noise ranks its patches: the lowest are kept
    return runs.run_pretext(args, "mae", data.NoisePretext(grid * grid),
                            build, loss=None, before_export=before_export)


if __name__ == "__main__":
    runs.main_guard(main)
