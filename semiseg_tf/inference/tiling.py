"""Sliding-window inference at native resolution for images of any size.

Tiles overlap by `overlap` pixels; their logits are blended with weights that ramp
up across the overlap, so seams vanish. Rows of tiles are processed top to bottom and
only one band of tile height is accumulated at a time: a 4000x4000 image needs
memory for one band, not for full-size logits.
"""

from __future__ import annotations

from typing import Callable

import numpy as np


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets covering `length` with windows of `tile`, consecutive windows sharing >= `overlap`."""
    if length <= tile:
        return [0]
    stride = tile - overlap
    if stride <= 0:
        raise ValueError(f"overlap {overlap} must be smaller than the tile {tile}")
    starts = list(range(0, length - tile, stride))
    return starts + [length - tile]


def blend_weights(height: int, width: int, overlap: int) -> np.ndarray:
    """Per-pixel tile weight: 1 inside, ramping down to 1/(overlap+1) towards the borders."""
    def ramp(n):
        distance = np.minimum(np.arange(n), np.arange(n)[::-1]) + 1
        return np.minimum(distance / (overlap + 1), 1.0) if overlap else np.ones(n)

    return np.outer(ramp(height), ramp(width)).astype(np.float32)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(-1, keepdims=True))
    return shifted / shifted.sum(-1, keepdims=True)


def predict_tiled(image: np.ndarray, run: Callable[[np.ndarray], np.ndarray], tile: tuple[int, int],
                  overlap: int = 64, batch_size: int = 8, with_probs: bool = False):
    """Class ids (H, W) uint8 and, if asked, probabilities (H, W, C) float16 of one uint8 image.

    `run` maps a uint8 batch (N, tile_h, tile_w, 3) to logits (N, tile_h, tile_w, C).
    """
    height, width = image.shape[:2]
    tile_h, tile_w = tile
    padded = np.pad(image, ((0, max(tile_h - height, 0)), (0, max(tile_w - width, 0)), (0, 0)), mode="edge")
    full_h, full_w = padded.shape[:2]
    ys, xs = tile_starts(full_h, tile_h, overlap), tile_starts(full_w, tile_w, overlap)
    weights = blend_weights(tile_h, tile_w, overlap)
    ids = np.empty((full_h, full_w), np.uint8)
    probs = accumulator = weight_sum = None
    for row, y in enumerate(ys):
        for first in range(0, len(xs), batch_size):
            chunk = xs[first:first + batch_size]
            logits = run(np.stack([padded[y:y + tile_h, x:x + tile_w] for x in chunk]))
            if accumulator is None:
                accumulator = np.zeros((tile_h, full_w, logits.shape[-1]), np.float32)
                weight_sum = np.zeros((tile_h, full_w), np.float32)
                if with_probs:
                    probs = np.empty((full_h, full_w, logits.shape[-1]), np.float16)
            for x, tile_logits in zip(chunk, logits):
                accumulator[:, x:x + tile_w] += tile_logits * weights[..., None]
                weight_sum[:, x:x + tile_w] += weights
        done = (ys[row + 1] if row + 1 < len(ys) else full_h) - y  # rows no later tile touches
        blended = accumulator[:done] / weight_sum[:done, :, None]
        ids[y:y + done] = blended.argmax(-1)
        if with_probs:
            probs[y:y + done] = softmax(blended)
        accumulator[:tile_h - done] = accumulator[done:].copy()
        accumulator[tile_h - done:] = 0
        weight_sum[:tile_h - done] = weight_sum[done:].copy()
        weight_sum[tile_h - done:] = 0
    return ids[:height, :width], (probs[:height, :width] if with_probs else None)
