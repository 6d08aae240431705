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
    """Resize an (H, W, C) array to `size` (height, width); returns float32."""
    height, width = size
    array = np.asarray(array)
    if array.shape[:2] == (height, width):
        return array.astype(np.float32, copy=False)
    y0, y1, fy = _taps(array.shape[0], height)
    x0, x1, fx = _taps(array.shape[1], width)
    rows = array[y0].astype(np.float32)
    rows *= (1 - fy)[:, None, None]
    rows += array[y1].astype(np.float32) * fy[:, None, None]
    out = rows[:, x0] * (1 - fx)[None, :, None]
    out += rows[:, x1] * fx[None, :, None]
    return out


def resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """An RGB uint8 image resized to `size`, rounded back to uint8 (what exported models take)."""
    if image.shape[:2] == tuple(size):
        return image
    return np.clip(resize_bilinear(image, size) + 0.5, 0, 255).astype(np.uint8)
