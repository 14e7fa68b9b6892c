"""Jigsaw puzzles' permutation set (numpy; shared by the tf.data
`kzoo.data.JigsawPretext` and the Keras layer `kzoo.layers.JigsawTiles`)."""

import functools
import itertools
import math

import numpy as np

from kzoo._api import kzoo_export

# Above this many tiles (num_tiles! > 9!), candidates are a random pool.
_MAX_EXHAUSTIVE_TILES = 9
_CANDIDATE_POOL_SIZE = 100_000


def _round_half_up(x):
    return int(math.floor(x + 0.5))


@functools.lru_cache(maxsize=4)
def _all_permutations(num_tiles):
    return np.array(
        list(itertools.permutations(range(num_tiles))), dtype=np.uint8
    )


def _candidate_permutations(num_tiles, rng):
    if num_tiles <= _MAX_EXHAUSTIVE_TILES:
        return _all_permutations(num_tiles)
    pool = np.argsort(
        rng.random((_CANDIDATE_POOL_SIZE, num_tiles)), axis=1
    ).astype(np.uint8)
    return np.unique(pool, axis=0)


@functools.lru_cache(maxsize=16)
def _maximal_hamming_permutations(num_permutations, num_tiles, seed):
    rng = np.random.default_rng(seed)
    candidates = _candidate_permutations(num_tiles, rng)
    count = len(candidates)
    if num_permutations > count:
        raise ValueError(
            f"`num_permutations` must be at most {count} (the number of "
            f"candidate permutations of {num_tiles} tiles). "
            f"Received: num_permutations={num_permutations}"
        )
    # One contiguous array per tile position: a Hamming distance to all
    # candidates is `num_tiles` vector comparisons.
    columns = np.ascontiguousarray(candidates.T)
    min_distance = np.full(count, num_tiles + 1, np.int32)
    sum_distance = np.zeros(count, np.int32)
    # Ties of the minimum are broken by the largest summed distance
    # (Noroozi & Favaro's own criterion), then by the first candidate.
    scale = num_tiles * num_permutations + 1
    chosen = [int(rng.integers(count))]
    for _ in range(num_permutations - 1):
        perm = candidates[chosen[-1]]
        distance = np.full(count, num_tiles, np.int32)
        for position in range(num_tiles):
            distance -= columns[position] == perm[position]
        np.minimum(min_distance, distance, out=min_distance)
        sum_distance += distance
        # Chosen permutations are at distance 0 and are never picked again.
        chosen.append(int(np.argmax(min_distance * scale + sum_distance)))
    result = candidates[chosen].astype(np.int32)
    result.flags.writeable = False
    return result


@kzoo_export("kzoo.data.maximal_hamming_permutations")
def maximal_hamming_permutations(num_permutations, num_tiles=9, seed=0):
    """A set of permutations far apart in Hamming distance, chosen greedily.

    The permutation set of the jigsaw pretext task (Noroozi & Favaro, 2016,
    Algorithm 1): starting from one permutation drawn at random, repeatedly
    add the candidate whose minimum Hamming distance (number of positions
    where two permutations differ) to the permutations already chosen is
    the largest, ties broken by the largest summed distance to them (the
    paper's Algorithm 1 uses the summed distance alone; maximising the
    minimum keeps every pair of puzzles distinguishable), then by the first
    candidate in lexicographic order. The candidates are all
    `num_tiles!` permutations when `num_tiles <= 9` (9! = 362880, the 3x3
    puzzle); above that, a random pool of 100,000 permutations drawn from
    `seed` (exhaustive search is infeasible). Each step is vectorised over
    the candidates with NumPy: 1000 permutations of 9 tiles take about a
    second. Results are cached.

    Args:
        num_permutations: size of the set (the number of classes of the
            puzzle classifier).
        num_tiles: number of tiles (`grid * grid`). Defaults to `9`.
        seed: seed of the first permutation (and of the candidate pool).
            Defaults to `0`.

    Returns:
        A read-only `int32` NumPy array `[num_permutations, num_tiles]`,
        each row a permutation of `range(num_tiles)`, all rows distinct.

    Example:

    >>> perms = kzoo.data.maximal_hamming_permutations(100)
    >>> perms.shape
    (100, 9)

    References:
        - [Noroozi & Favaro, 2016](https://arxiv.org/abs/1603.09246):
          Unsupervised Learning of Visual Representations by Solving
          Jigsaw Puzzles.
    """
    if int(num_permutations) != num_permutations or num_permutations < 1:
        raise ValueError(
            "`num_permutations` must be a positive integer. "
            f"Received: num_permutations={num_permutations}"
        )
    if int(num_tiles) != num_tiles or not 2 <= num_tiles <= 255:
        raise ValueError(
            "`num_tiles` must be an integer in [2, 255]. "
            f"Received: num_tiles={num_tiles}"
        )
    return _maximal_hamming_permutations(
        int(num_permutations), int(num_tiles), int(seed)
    )


def _check_permutations(permutations, num_tiles):
    perms = np.asarray(permutations)
    if (perms.ndim != 2 or perms.shape[1] != num_tiles or len(perms) < 1
            or not np.issubdtype(perms.dtype, np.integer)):
        raise ValueError(
            "`permutations` must be an integer array `[P, grid * grid]` = "
            f"`[P, {num_tiles}]`. Received: permutations.shape={perms.shape}"
        )
    if not np.array_equal(np.sort(perms, axis=1),
                          np.broadcast_to(np.arange(num_tiles), perms.shape)):
        raise ValueError(
            "Every row of `permutations` must be a permutation of "
            f"range({num_tiles}). Received: permutations={perms.tolist()}"
        )
    if len(np.unique(perms, axis=0)) != len(perms):
        raise ValueError(
            "The rows of `permutations` must be distinct. "
            f"Received: permutations={perms.tolist()}"
        )
    return perms.astype(np.int32)


def _puzzle_config(puzzle):
    """The constructor arguments of a puzzle made by `_puzzle_setup` (the
    permutation set only when it was given)."""
    return {
        "num_permutations": puzzle.num_permutations,
        "tile_size": puzzle.tile_size,
        "grid": puzzle.grid,
        "jitter": puzzle.jitter,
        "permutations": (
            puzzle.permutations.tolist() if puzzle._explicit else None),
    }


def _puzzle_setup(puzzle, num_permutations, tile_size, grid, jitter,
                  permutations):
    """Checks and stores a puzzle's arguments on `puzzle` (the tf.data
    `JigsawPretext` and the layer `JigsawTiles` share them).

    Sets `tile_size`, `grid`, `jitter`, `cell_size` (the tile plus its
    jitter margin: `tile_size * 75 / 64`, rounded half up, as the paper's
    64-pixel tiles in 75-pixel cells), `permutations` (the given set,
    checked, or the maximal-Hamming set, seed 0), `num_permutations` and
    `_explicit` (whether the set was given: `get_config` then stores it).

    Raises:
        ValueError: `tile_size` not a positive integer, `grid` not an
            integer >= 2 (booleans are neither), or a bad permutation set.
    """
    if (isinstance(tile_size, bool) or int(tile_size) != tile_size
            or tile_size < 1):
        raise ValueError("`tile_size` must be a positive integer. "
                         f"Received: tile_size={tile_size}")
    if isinstance(grid, bool) or int(grid) != grid or grid < 2:
        raise ValueError(
            f"`grid` must be an integer >= 2. Received: grid={grid}")
    puzzle.tile_size = int(tile_size)
    puzzle.grid = int(grid)
    puzzle.jitter = bool(jitter)
    puzzle.cell_size = _round_half_up(puzzle.tile_size * 75 / 64)
    num_tiles = puzzle.grid * puzzle.grid
    if permutations is None:
        # Cached: every puzzle of this size shares one search.
        puzzle.permutations = maximal_hamming_permutations(
            num_permutations, num_tiles, seed=0)
        puzzle._explicit = False
    else:
        puzzle.permutations = _check_permutations(permutations, num_tiles)
        puzzle._explicit = True
    puzzle.num_permutations = len(puzzle.permutations)
