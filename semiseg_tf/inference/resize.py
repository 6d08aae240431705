"""Bilinear resizing with TensorFlow's convention (half-pixel centres, no antialias), in OpenCV.

Evaluation resizes with `tf.image.resize`; predict, export calibration and parity use these functions so
that an ONNX pipeline without TensorFlow sees the same pixels. OpenCV's `INTER_LINEAR` has that convention
(borders clamped): float arrays agree with TensorFlow to float rounding, uint8 images to one grey level
(OpenCV interpolates in fixed point). It is ~11x faster than the same resize in NumPy, and the resize is on
predict's per-image path (docs/2026-11-25-predict-speed.md).
"""

from __future__ import annotations

import cv2
import numpy as np

# predict runs one image per decoder thread beside onnxruntime's threads; OpenCV's own pool would compete
cv2.setNumThreads(1)


def resize_bilinear(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an (H, W, C) array to `size` (height, width); returns float32."""
    height, width = size
    array = np.asarray(array, np.float32)
    if array.shape[:2] == (height, width):
        return array
    resized = cv2.resize(array, (width, height), interpolation=cv2.INTER_LINEAR)
    return resized.reshape(height, width, *array.shape[2:])  # OpenCV drops a single channel axis


def resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """An RGB uint8 image resized to `size` (what exported models take)."""
    if image.shape[:2] == tuple(size):
        return image
    return cv2.resize(np.ascontiguousarray(image), (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
