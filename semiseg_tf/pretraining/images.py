"""The images a pretraining run learns from, and the tf.data steps every pretext task shares.

Images come from a folder (`--images DIR`) and/or the images of a dataset split (`--data DIR
--split train`; masks are never read). A test split is refused: an encoder that has seen the test
images, even without labels, makes the later evaluation optimistic.

Every random draw is a stateless op keyed by (run seed, element index), as in `data.augment`, so a
resumed run sees exactly the batches it would have seen without the interruption.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import tensorflow as tf

from semiseg_tf.data import Sample, SegmentationDataset, read_image, resolve_data, unlabeled_samples
from semiseg_tf.pretraining.config import is_test_split, test_split_refusal

AUTOTUNE = tf.data.AUTOTUNE


def pretraining_samples(images: str | None = None, data: str | None = None, split: str = "train") -> list[Sample]:
    """The unlabeled images of a run: a folder, a dataset split's images, or both (duplicates dropped)."""
    if images is None and data is None:
        raise ValueError("no images to pretrain on: pass --images DIR (a folder of images) and/or "
                         "--data DIR --split train.")
    if data is not None and is_test_split(split):
        raise ValueError(test_split_refusal(split))
    samples = unlabeled_samples(images) if images is not None else []
    if data is not None:
        dataset = SegmentationDataset(resolve_data(data))
        samples += dataset.samples(split, labeled=False)
    unique = {str(sample.image): sample for sample in samples}
    return list(unique.values())


# === tf.data steps ===
def decode_resized(path: tf.Tensor, short_side: int) -> tf.Tensor:
    """Decode an image file with the project's reader and scale it so its shorter side is `short_side`
    (float32, [0, 255]); aspect ratio kept."""
    image = tf.numpy_function(lambda p: read_image(np.asarray(p).item().decode()), [path], tf.uint8)
    image.set_shape([None, None, 3])
    size = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = float(short_side) / tf.reduce_min(size)
    target = tf.maximum(tf.cast(tf.round(size * scale), tf.int32), short_side)
    return tf.image.resize(tf.cast(image, tf.float32), target, method="bilinear", antialias=True)


def random_resized_crop(image: tf.Tensor, seed: tf.Tensor, size: int, area_range=(0.3, 1.0),
                        mask: tf.Tensor | None = None):
    """A random box (area share in `area_range`, aspect 3/4-4/3) resized to size x size, then a random
    horizontal flip; `mask` (H, W int32 ids) moves with the image (nearest). Returns image[, mask]."""
    seeds = tf.random.experimental.stateless_split(seed, num=2)
    begin, box, _ = tf.image.stateless_sample_distorted_bounding_box(
        tf.shape(image), tf.zeros([1, 0, 4]), seed=seeds[0], min_object_covered=0.0,
        aspect_ratio_range=(0.75, 1.333), area_range=area_range, max_attempts=20, use_image_if_no_bounding_boxes=True)
    del box
    flip = tf.random.stateless_uniform([], seeds[1]) < 0.5
    crop = tf.slice(image, begin, [-1, -1, 3])
    crop = tf.image.resize(crop, (size, size), method="bilinear", antialias=True)
    crop = tf.cond(flip, lambda: tf.reverse(crop, [1]), lambda: crop)
    if mask is None:
        return crop
    mask_crop = tf.slice(mask[..., None], begin, [-1, -1, 1])
    mask_crop = tf.image.resize(mask_crop, (size, size), method="nearest")[..., 0]
    mask_crop = tf.cond(flip, lambda: tf.reverse(mask_crop, [1]), lambda: mask_crop)
    return crop, tf.cast(mask_crop, tf.int32)


def center_crop(image: tf.Tensor, size: int) -> tf.Tensor:
    """The central size x size window of an image whose shorter side is `size`."""
    return tf.image.resize_with_crop_or_pad(image, size, size)


def plain_graph(function):
    """`function` traced as written, without AutoGraph's source conversion (seconds per tf.data map on a busy
    CPU): the element functions here branch with `tf.cond` only."""
    return tf.autograph.experimental.do_not_convert(function)


def image_stream(samples: Sequence[Sample], batch_size: int, seed: int, start_step: int,
                 element: Callable[[tf.Tensor, tf.Tensor], object]) -> tf.data.Dataset:
    """Infinite shuffled batches of `element(path, element_seed)`; the first `start_step` batches (what a
    resumed run already trained on) are skipped on file paths, before decoding."""
    if not samples:
        raise ValueError("no images to pretrain on")
    paths = tf.data.Dataset.from_tensor_slices([str(s.image) for s in samples])
    ds = paths.shuffle(len(samples), seed=seed, reshuffle_each_iteration=True).repeat()
    ds = ds.enumerate().skip(start_step * batch_size)
    ds = ds.map(plain_graph(lambda index, path: element(path, tf.stack([tf.constant(seed, tf.int64), index]))),
                num_parallel_calls=AUTOTUNE, deterministic=True)
    return ds.batch(batch_size, drop_remainder=True).prefetch(AUTOTUNE)


def crops(size: int, area_range=(0.3, 1.0)):
    """The plain view: a random resized crop with flip, [0, 255] float."""

    def element(path, seed):
        return random_resized_crop(decode_resized(path, size), seed, size, area_range)

    return element


def crop_stream(samples: Sequence[Sample], batch_size: int, size: int, seed: int, start_step: int = 0,
                area_range=(0.3, 1.0)) -> tf.data.Dataset:
    """Batches of plain random crops (rotation's input; BatchNorm re-estimation at the end of a run)."""
    return image_stream(samples, batch_size, seed, start_step, crops(size, area_range))


def check_readable(samples: Sequence[Sample]) -> None:
    """Decode the first image, so a folder of unreadable files fails before anything is written."""
    read_image(samples[0].image)
