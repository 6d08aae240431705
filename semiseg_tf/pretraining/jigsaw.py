"""Jigsaw puzzles (Noroozi & Favaro, "Unsupervised Learning of Visual Representations by Solving Jigsaw
Puzzles", ECCV 2016): cut an image into 3x3 tiles, shuffle them by one permutation of a fixed set, and
have a context-free network (the encoder applied to each tile alone, then one head over the nine
feature vectors) name the permutation.

Shortcuts the paper closes, and so do we: tiles are smaller than their grid cells and placed at random
inside them (gaps and jitter: no continuing edges or lines to match), and each tile is normalised to its
own mean and standard deviation (no matching of brightness or colour statistics between neighbours).
The permutation set is chosen for maximal Hamming distance, so the permutations differ in many tiles.
"""

from __future__ import annotations

import functools
import itertools

import numpy as np
import tensorflow as tf

from semiseg_tf.pretraining.images import decode_resized, image_stream, random_resized_crop
from semiseg_tf.pretraining.pretext_model import PretextClassifier, mlp

GRID = 3
TILES = GRID * GRID


@functools.lru_cache(maxsize=8)
def maximal_hamming_permutations(count: int, seed: int = 0) -> np.ndarray:
    """`count` permutations of the 9 tiles, (count, 9) int32, chosen greedily among all 9! so that each new
    one is the farthest (Hamming distance) from its nearest already chosen one; the first is random.

    The paper's Algorithm 1 maximises the average distance to the chosen set; maximising the minimum
    instead keeps any two apart (with 100 permutations every pair differs in at least 6 of the 9 positions,
    8.06 on average). 100 take about 2 s to choose, 1000 about 20 s.
    """
    if not 2 <= count <= 5000:
        raise ValueError(f"permutations={count}: must be in [2, 5000] (the paper uses 100 to 1000).")
    rng = np.random.default_rng(seed)
    candidates = np.array(list(itertools.permutations(range(TILES))), np.int8)
    candidates = candidates[rng.permutation(len(candidates))]  # random tie-breaking
    chosen = [0]
    nearest = np.full(len(candidates), TILES + 1, np.int16)
    for _ in range(count - 1):
        distance = (candidates != candidates[chosen[-1]]).sum(axis=1, dtype=np.int16)
        np.minimum(nearest, distance, out=nearest)
        chosen.append(int(np.argmax(nearest)))
    return candidates[chosen].astype(np.int32)


def tile_geometry(image_size: int, tile_share: float) -> tuple[int, int]:
    """(cell, tile) sides in pixels: the grid cell, and the smaller tile cut at a random place inside it."""
    cell = image_size // GRID
    return cell, max(1, int(round(cell * tile_share)))


def jigsaw_tiles(image: tf.Tensor, seed: tf.Tensor, permutations: tf.Tensor, tile_share: float):
    """(tiles (9, t, t, C) in shuffled order, label): position j shows grid cell permutations[label][j]
    (cells numbered row by row); each tile sits at its own random offset inside its cell."""
    seeds = tf.random.experimental.stateless_split(seed, num=2)
    cell, tile = tile_geometry(int(image.shape[0]), tile_share)
    offsets = tf.random.stateless_uniform([TILES, 2], seeds[0], 0, cell - tile + 1, dtype=tf.int32)
    cells = []
    for index in range(TILES):
        row, column = divmod(index, GRID)
        top, left = row * cell + offsets[index, 0], column * cell + offsets[index, 1]
        cells.append(image[top:top + tile, left:left + tile])
    label = tf.random.stateless_uniform([], seeds[1], 0, tf.shape(permutations)[0], dtype=tf.int32)
    return tf.gather(tf.stack(cells), permutations[label]), label


def normalise_tiles(tiles: tf.Tensor) -> tf.Tensor:
    """Each tile to its own zero mean and unit deviation, mapped back to [0, 255] around 127.5 (the
    range the encoder's input normalisation expects)."""
    mean, variance = tf.nn.moments(tiles, axes=[-3, -2, -1], keepdims=True)
    return tf.clip_by_value(127.5 + 50.0 * (tiles - mean) / tf.sqrt(variance + 1.0), 0.0, 255.0)


class JigsawPretext(PretextClassifier):
    """Context-free network: encoder on each tile -> pooled features -> concatenated -> MLP -> permutation.

    Args:
        permutations: size of the permutation set (classes).
        tile_share: tile side as a share of its grid cell; the rest is gap and jitter (64/75 in the paper).
        normalise: normalise each tile on its own.
        hidden: width of the head's hidden layer.
    """

    paper = "Noroozi & Favaro, ECCV 2016"

    def __init__(self, segmenter, image_size: int = 128, permutations: int = 100, tile_share: float = 0.85,
                 normalise: bool = True, hidden: int = 512, seed: int = 0, **kwargs):
        super().__init__(segmenter, seed=seed, **kwargs)
        self.image_size, self.permutations, self.tile_share = int(image_size), int(permutations), float(tile_share)
        self.normalise, self.hidden = bool(normalise), int(hidden)
        self.permutation_set = maximal_hamming_permutations(self.permutations, self.seed)
        self.head = mlp([self.hidden, self.permutations], name="jigsaw_head")

    def call(self, tiles, training=False):
        shape = tf.shape(tiles)
        flat = tf.reshape(tiles, tf.concat([[-1], shape[2:]], axis=0))
        features = self.pooled_features(flat, training)
        return self.head(tf.reshape(features, [-1, TILES * features.shape[-1]]), training=training)

    def chance_level(self) -> float:
        return 1.0 / self.permutations

    def dummy_inputs(self, image_size: int, batch_size: int = 2):
        _, tile = tile_geometry(image_size, self.tile_share)
        return tf.zeros((batch_size, TILES, tile, tile, 3))

    def training_stream(self, samples, config, start_step: int) -> tf.data.Dataset:
        size, permutations = config.image_size, tf.constant(self.permutation_set)

        def element(path, seed):
            seeds = tf.random.experimental.stateless_split(seed, num=2)
            image = random_resized_crop(decode_resized(path, size), seeds[0], size, (0.5, 1.0))
            tiles, label = jigsaw_tiles(image, seeds[1], permutations, self.tile_share)
            return (normalise_tiles(tiles) if self.normalise else tiles), label

        return image_stream(samples, config.batch_size, config.seed, start_step, element)
