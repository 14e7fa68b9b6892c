"""Jigsaw puzzle pretext task (Noroozi & Favaro, 2016)."""

from kzoo._api import kzoo_export
from kzoo._data_ops import TF_OPS
from kzoo._docs import fill_doc
from kzoo.data._config import ConstructorConfig
from kzoo.jigsaw_permutations import _puzzle_config
from kzoo.jigsaw_permutations import _puzzle_setup
from kzoo.jigsaw_permutations import maximal_hamming_permutations  # noqa: F401
from kzoo.layers.jigsaw_tiles import JIGSAW_ARGS
from kzoo.layers.jigsaw_tiles import REASSEMBLE_DOC
from kzoo.layers.jigsaw_tiles import jigsaw_puzzles
from kzoo.layers.jigsaw_tiles import reassemble_tiles


@kzoo_export("kzoo.data.JigsawPretext")
@fill_doc(jigsaw_args=JIGSAW_ARGS)
class JigsawPretext(ConstructorConfig):
    """Jigsaw puzzle inputs and labels for a batch of images.

    The self-supervised task of Noroozi & Favaro (2016): an image is cut
    into a `grid x grid` puzzle of tiles, the tiles are shuffled by one of a
    fixed set of permutations, and a network (usually a siamese backbone
    over the tiles, features concatenated) learns features by classifying
    which permutation was used.

    Each image is resized (bilinear) to a square of `grid x grid` cells of
    `cell_size = round(tile_size * 75 / 64)` pixels (rounded half up): the
    paper cuts 64 px tiles out of 75 px cells, scaled here so that a tile is
    `tile_size` px (38 px cells for the default 32 px tiles, the input size
    of kzoo's CIFAR backbones). Non-square images are stretched to the
    square. From every cell, a `tile_size x tile_size` tile is cut at an
    offset drawn uniformly in `[0, cell_size - tile_size]` along each axis,
    independently per image and cell: the random gap between tiles that
    keeps the network from solving the puzzle from edge continuity. With
    `jitter=False`, every tile is the centre of its cell (offset
    `(cell_size - tile_size) // 2`). Tiles keep their pixels (no per-tile
    normalisation or colour jitter).

    Cells are numbered in row-major order (cell `c` is row `c // grid`,
    column `c % grid`). One permutation `perm = permutations[label]` is
    drawn uniformly per image, and **output position `j` holds the tile cut
    from cell `perm[j]`**: `inputs[:, j] = tiles[:, perm[j]]`.
    `reassemble(inputs, labels)` undoes the shuffle.

    Takes images `[B, H, W, 3]` of pixels in `[0, 255]` (any dtype) and
    returns `(inputs, labels)`: `float32` tiles
    `[B, grid * grid, tile_size, tile_size, 3]` in `[0, 255]` and `int32`
    labels in `[0, num_permutations)`.

    Args:
        {jigsaw_args}

    Example:

    >>> pretext = kzoo.data.JigsawPretext(num_permutations=100)
    >>> tiles, labels = pretext(images, seed=tf.constant([1, 2]))
    >>> tiles.shape  # images of any size
    TensorShape([B, 9, 32, 32, 3])

    References:
        - [Noroozi & Favaro, 2016](https://arxiv.org/abs/1603.09246):
          Unsupervised Learning of Visual Representations by Solving
          Jigsaw Puzzles.
    """

    def __init__(self, num_permutations=1000, tile_size=32, grid=3,
                 jitter=True, permutations=None):
        _puzzle_setup(self, num_permutations, tile_size, grid, jitter,
                      permutations)

    def __call__(self, images, seed):
        return jigsaw_puzzles(TF_OPS, self, images, seed)

    @fill_doc(reassemble_doc=REASSEMBLE_DOC)
    def reassemble(self, tiles, labels, stitch=False):
        """Undoes the shuffle of `__call__`.

        {reassemble_doc}
        """
        return reassemble_tiles(TF_OPS, self, tiles, labels, stitch)

    def get_config(self):
        return _puzzle_config(self)
