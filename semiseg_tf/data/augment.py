"""Paired augmentation that moves image and mask together, deterministically.

Every random draw is a stateless TF op keyed by a per-element seed (dataset seed,
element index), so a run is reproducible and a resumed run sees exactly the
batches it would have seen without the interruption. Keras' preprocessing
layers also accept `segmentation_masks`, but their random state lives in a
SeedGenerator that cannot be rewound to an element index, which resuming needs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import tensorflow as tf


@dataclass(frozen=True)
class AugmentConfig:
    """Geometric and photometric augmentation settings (all stored in the run config)."""

    scale_range: tuple[float, float] = (0.75, 1.5)
    hflip: bool = True
    brightness: float = 0.25  # max delta, in [0, 1] units
    contrast: float = 0.25  # factor drawn from [1 - c, 1 + c]
    saturation: float = 0.25
    hue: float = 0.03

    def to_dict(self) -> dict:
        return asdict(self)


def _seeds(seed: tf.Tensor, count: int) -> tf.Tensor:
    return tf.random.experimental.stateless_split(seed, num=count)


def resize_pair(image: tf.Tensor, mask: tf.Tensor, size) -> tuple[tf.Tensor, tf.Tensor]:
    """Bilinear for the image, nearest for the mask, so class ids stay class ids."""
    image = tf.image.resize(image, size, method="bilinear")
    mask = tf.image.resize(mask[..., None], size, method="nearest")[..., 0]
    return image, tf.cast(mask, tf.uint8)


def augment_pair(image: tf.Tensor, mask: tf.Tensor, seed: tf.Tensor, base_size, crop_size,
                 config: AugmentConfig, ignore_index: int = 255, boxes: tf.Tensor | None = None):
    """Random scale around `base_size` (None: the image's native size), pad, crop to `crop_size`, flip,
    colour jitter; `boxes` ([N, 5]: class, x0, y0, x1, y1 in pixels, corners inclusive) move with the image.

    Returns float32 image in [0, 255] (crop_size + (3,)) and uint8 mask (crop_size), and with `boxes`
    the boxes that keep at least one pixel inside the crop, clipped to it.
    """
    s = _seeds(seed, 8)
    scale = tf.random.stateless_uniform([], s[0], *config.scale_range)
    native = tf.shape(image)[:2]
    base = native if base_size is None else base_size
    size = tf.cast(tf.round(tf.cast(base, tf.float32) * scale), tf.int32)
    image, mask = resize_pair(tf.cast(image, tf.float32), mask, size)
    # Pad with ignore so padding never counts as a class.
    pad_h = tf.maximum(crop_size[0] - size[0], 0)
    pad_w = tf.maximum(crop_size[1] - size[1], 0)
    image = tf.pad(image, [[0, pad_h], [0, pad_w], [0, 0]])
    mask = tf.pad(tf.cast(mask, tf.int32) - ignore_index, [[0, pad_h], [0, pad_w]]) + ignore_index
    stacked = tf.concat([image, tf.cast(mask, tf.float32)[..., None]], axis=-1)
    # The draws of tf.image.stateless_random_crop / _flip_left_right, made explicit so boxes can follow.
    window = tf.constant([crop_size[0], crop_size[1], 4], tf.int32)
    offset = tf.random.stateless_uniform([3], s[1], maxval=tf.int32.max, dtype=tf.int32) % (
        tf.shape(stacked) - window + 1)
    stacked = tf.slice(stacked, offset, window)
    flip = tf.constant(False)
    if config.hflip:
        flip = tf.random.stateless_uniform([], s[2], 0, 1.0) < 0.5
        stacked = tf.cond(flip, lambda: tf.reverse(stacked, [1]), lambda: stacked)
    image, mask = stacked[..., :3], tf.cast(stacked[..., 3], tf.uint8)
    image = photometric(image, s[3:], config)
    if boxes is None:
        return image, mask
    factor = tf.cast(size, tf.float32) / tf.cast(native, tf.float32)  # (y, x)
    return image, mask, move_boxes(boxes, factor, offset[:2], crop_size, flip)


def move_boxes(boxes: tf.Tensor, factor: tf.Tensor, offset: tf.Tensor, crop_size, flip: tf.Tensor) -> tf.Tensor:
    """Boxes [N, 5] (class, x0, y0, x1, y1; corners inclusive) through a rescale by `factor` (y, x), a crop
    at `offset` (y, x) of `crop_size` and an optional horizontal flip; boxes left with no pixel inside the
    crop are dropped, the rest clipped to it."""
    boxes = tf.cast(tf.reshape(boxes, [-1, 5]), tf.float32)
    oy, ox = tf.cast(offset[0], tf.float32), tf.cast(offset[1], tf.float32)
    x0 = tf.floor(boxes[:, 1] * factor[1]) - ox
    y0 = tf.floor(boxes[:, 2] * factor[0]) - oy
    x1 = tf.math.ceil((boxes[:, 3] + 1) * factor[1]) - 1 - ox
    y1 = tf.math.ceil((boxes[:, 4] + 1) * factor[0]) - 1 - oy
    height, width = float(crop_size[0]), float(crop_size[1])
    keep = (x1 >= 0) & (y1 >= 0) & (x0 <= width - 1) & (y0 <= height - 1)
    x0, x1 = tf.clip_by_value(x0, 0, width - 1), tf.clip_by_value(x1, 0, width - 1)
    y0, y1 = tf.clip_by_value(y0, 0, height - 1), tf.clip_by_value(y1, 0, height - 1)
    x0, x1 = tf.where(flip, width - 1 - x1, x0), tf.where(flip, width - 1 - x0, x1)
    return tf.boolean_mask(tf.stack([boxes[:, 0], x0, y0, x1, y1], axis=1), keep)


def photometric(image: tf.Tensor, seeds: tf.Tensor, config: AugmentConfig) -> tf.Tensor:
    """Colour jitter on a [0, 255] float image; masks are never touched by it."""
    x = image / 255.0
    if config.brightness:
        x = tf.image.stateless_random_brightness(x, config.brightness, seeds[0])
    if config.contrast:
        x = tf.image.stateless_random_contrast(x, 1 - config.contrast, 1 + config.contrast, seeds[1])
    if config.saturation:
        x = tf.image.stateless_random_saturation(
            x, 1 - config.saturation, 1 + config.saturation, seeds[2])
    if config.hue:
        x = tf.image.stateless_random_hue(x, config.hue, seeds[3])
    return tf.clip_by_value(x, 0.0, 1.0) * 255.0
