"""Jigsaw puzzles (Noroozi & Favaro 2016) on CIFAR-10 (or digits).

Each training image is stretched to 3 x 3 cells of 38 px, a 32 px tile is
cut at a random offset in every cell (the gap that stops the network from
matching edges), the nine tiles are shuffled by one of `--num-permutations`
permutations chosen for maximal Hamming distance, and the network predicts
which (`kzoo.data.JigsawPretext`). The network is the paper's context-free
network (`kzoo.models.jigsaw_network`): the same backbone (shared weights)
on every tile, a per-tile fc6, the nine outputs concatenated, fc7 and a
softmax over the permutations. The paper's 64 px tiles in 75 px cells are
scaled so that a tile is 32 px, the input size of the CIFAR backbone, which
is then evaluated on whole 32 px images like every other method.
Optimiser: SGD momentum 0.9, weight decay 5e-4, cosine decay from 0.01
(the paper's initial rate), batch 128 images (1,152 tiles).

Reports the kNN accuracy (k=200, T=0.1) and the linear probe of the
backbone's pooled features beside the same backbone at random
initialisation, and exports the backbone as an embedding SavedModel.

    python recipes/jigsaw_cifar.py --data-dir ../shared/datasets
    python recipes/jigsaw_cifar.py --dataset digits --num-permutations 100
"""

if __name__ == "__main__":
    import _backend  # recipes/_backend.py: kzoo on sys.path, --backend

    _backend.from_argv()  # before kzoo imports Keras

from kzoo import runs  # noqa: E402  (Keras; TensorFlow on its backend only)

PAPER = "Noroozi & Favaro 2016"


def parse_args(argv=None):
    parser = runs.recipe_parser(__doc__)
    model = runs.add_pretext_args(parser, learning_rate=0.01, reference=PAPER)
    model.add_argument("--num-permutations", type=runs.positive_int,
                       default=1000,
                       help=f"size of the maximal-Hamming permutation set "
                       f"(classes). Default: 1000 ({PAPER}).")
    model.add_argument("--tile-size", type=runs.positive_int, default=32,
                       help="tile side in px (cells are 75/64 of it). "
                       "Default: 32 (the CIFAR backbone's input size).")
    model.add_argument("--hidden-dim", type=runs.positive_int, default=1024,
                       help="width of fc6 and fc7. Default: 1024.")
    args = parser.parse_args(argv)
    if args.num_permutations < 2:
        parser.error("--num-permutations must be >= 2")
    return args


def main(argv=None):
    args = parse_args(argv)

    import keras

    from kzoo import data, models

    return runs.run_pretext(
        args, "jigsaw",
        data.JigsawPretext(num_permutations=args.num_permutations,
                           tile_size=args.tile_size),
        lambda backbone: models.jigsaw_network(
            backbone, args.num_permutations, hidden_dim=args.hidden_dim),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        backbone_input_shape=(args.tile_size, args.tile_size, 3))


if __name__ == "__main__":
    runs.main_guard(main)
