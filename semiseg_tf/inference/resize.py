"""Bilinear resizing in NumPy with TensorFlow's convention (half-pixel centres, no antialias).

Evaluation resizes with `tf.image.resize`; predict, export calibration and parity use
this function so that an ONNX pipeline without TensorFlow sees the same pixels.
"""

from __future__ import annotations

import numpy as np


def _taps(size_in: int, size_out: int):
    source = (np.arange(size_out, dtype=np.float64) + 0.5) * (size_in / size_out) - 0.5
    source = np.clip(source, 0, size_in - 1)
    lower = np.floor(source).astype(np.int64)
    upper = np.minimum(lower + 1, size_in - 1)
    return lower, upper, (source - lower).astype(np.float32)


def resize_bilinear(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an (H, W, C) array to `size` (height, width); returns float32.

    Rows, then columns, with in-place arithmetic and `np.take`: about 3x faster than
    the same sums written with temporaries and fancy indexing (it is on predict's per-image path).
    """
    height, width = size
    array = np.asarray(array)
    if array.shape[:2] == (height, width):
        return array.astype(np.float32, copy=False)
    y0, y1, fy = _taps(array.shape[0], height)
    x0, x1, fx = _taps(array.shape[1], width)
    rows = np.take(array, y0, axis=0).astype(np.float32)
    rows *= (1 - fy)[:, None, None]
    lower = np.take(array, y1, axis=0).astype(np.float32)
    lower *= fy[:, None, None]
    rows += lower
    out = np.take(rows, x0, axis=1)
    out *= (1 - fx)[None, :, None]
    right = np.take(rows, x1, axis=1)
    right *= fx[None, :, None]
    out += right
    return out


def resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """An RGB uint8 image resized to `size`, rounded back to uint8 (what exported models take)."""
    if image.shape[:2] == tuple(size):
        return image
    resized = resize_bilinear(image, size)
    resized += 0.5
    return np.clip(resized, 0, 255, out=resized).astype(np.uint8)
