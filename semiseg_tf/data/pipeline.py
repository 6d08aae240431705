"""tf.data pipelines: training (augmented, infinite, resumable) and evaluation (native size)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import tensorflow as tf

from semiseg_tf.data.augment import AugmentConfig, augment_pair
from semiseg_tf.data.dataset import Sample
from semiseg_tf.data.imageio import read_image, read_mask

AUTOTUNE = tf.data.AUTOTUNE


def _decoder(num_classes: int, ignore_index: int):
    """A tf.data map that decodes (image path, mask path) with the validated reader."""

    def decode(image_path, mask_path):
        def load(image_path, mask_path):
            image = read_image(image_path.decode())
            if mask_path:
                mask = read_mask(mask_path.decode(), num_classes, ignore_index)
            else:  # unlabeled: every pixel ignored
                mask = np.full(image.shape[:2], ignore_index, np.uint8)
            return image, mask

        image, mask = tf.numpy_function(load, [image_path, mask_path], [tf.uint8, tf.uint8])
        image.set_shape([None, None, 3])
        mask.set_shape([None, None])
        return image, mask

    return decode


def _paths(samples: Sequence[Sample]) -> tf.data.Dataset:
    images = [str(s.image) for s in samples]
    masks = [str(s.mask) if s.mask is not None else "" for s in samples]
    return tf.data.Dataset.from_tensor_slices((images, masks))


def multi_hot_tags(samples: Sequence[Sample], num_classes: int) -> np.ndarray:
    """(N, C) float32 multi-hot image tags; a sample without tags is an error."""
    tags = np.zeros((len(samples), num_classes), np.float32)
    for row, sample in enumerate(samples):
        if sample.tags is None:
            raise ValueError(f"sample '{sample.stem}' has no image tags; a method that trains on tags needs "
                             "them for every image (--annotations tag=DIR with tags.csv).")
        tags[row, list(sample.tags)] = 1.0
    return tags


def padded_boxes(samples: Sequence[Sample]) -> np.ndarray:
    """(N, K, 5) float32 boxes (class, x0, y0, x1, y1 in native pixels), K the most any sample has,
    padded with class -1; a sample without boxes is an error."""
    missing = next((s.stem for s in samples if s.boxes is None), None)
    if missing is not None:
        raise ValueError(f"sample '{missing}' has no boxes; a method that trains on boxes needs them for every "
                         "image (--annotations box=DIR with boxes.csv).")
    count = max(1, max(len(s.boxes) for s in samples))
    boxes = np.full((len(samples), count, 5), -1.0, np.float32)
    for row, sample in enumerate(samples):
        for column, box in enumerate(sample.boxes):
            boxes[row, column] = (box.class_id, box.x0, box.y0, box.x1, box.y1)
    return boxes


def train_dataset(samples: Sequence[Sample], num_classes: int, batch_size: int,
                  base_size: tuple[int, int], crop_size: tuple[int, int],
                  augment: AugmentConfig = AugmentConfig(), seed: int = 0,
                  start_step: int = 0, ignore_index: int = 255,
                  with_masks: bool = True, targets: str = "masks") -> tf.data.Dataset:
    """Infinite shuffled, augmented batches; `start_step` skips what a resumed run already saw.

    The skip happens on file paths, before decoding, so resuming costs nothing.
    Yields (images float32 [0, 255], masks uint8), or (images, multi-hot tags) with `targets="tags"`
    (tags do not move with the image), or (images, {"masks", "boxes"}) with `targets="boxes"` (boxes move
    with the image, padded to the most any sample has, class -1), or images only when not `with_masks`.
    """
    if not samples:
        raise ValueError("no samples to train on")
    if targets not in ("masks", "tags", "boxes"):
        raise ValueError(f"unknown training target '{targets}'; valid: masks, tags, boxes")
    ds = _paths(samples)
    if targets == "tags" and with_masks:
        ds = tf.data.Dataset.zip(ds, tf.data.Dataset.from_tensor_slices(multi_hot_tags(samples, num_classes)))
    elif targets == "boxes" and with_masks:
        ds = tf.data.Dataset.zip(ds, tf.data.Dataset.from_tensor_slices(padded_boxes(samples)))
    else:
        ds = ds.map(lambda image, mask: ((image, mask), tf.zeros([0])))
    ds = ds.shuffle(len(samples), seed=seed, reshuffle_each_iteration=True).repeat()
    ds = ds.enumerate().skip(start_step * batch_size)
    decode = _decoder(num_classes, ignore_index)

    def load(index, element):
        paths, target = element  # tags, padded boxes, or an empty placeholder
        image, mask = decode(*paths)
        element_seed = tf.stack([tf.constant(seed, tf.int64), index])
        if targets == "boxes" and with_masks:
            boxes = tf.boolean_mask(target, target[:, 0] >= 0)
            image, mask, boxes = augment_pair(image, mask, element_seed, base_size, crop_size, augment,
                                              ignore_index, boxes=boxes)
            padding = tf.fill([tf.shape(target)[0] - tf.shape(boxes)[0], 5], -1.0)
            return image, {"masks": mask, "boxes": tf.ensure_shape(tf.concat([boxes, padding], 0), target.shape)}
        image, mask = augment_pair(image, mask, element_seed, base_size, crop_size, augment, ignore_index)
        if not with_masks:
            return image
        return (image, target) if targets == "tags" else (image, mask)

    ds = ds.map(load, num_parallel_calls=AUTOTUNE, deterministic=True)
    return ds.batch(batch_size, drop_remainder=True).prefetch(AUTOTUNE)


def eval_dataset(samples: Sequence[Sample], num_classes: int, input_size: tuple[int, int] | None,
                 ignore_index: int = 255) -> tf.data.Dataset:
    """(image resized to the model's input size, mask at native size), one sample at a time.

    Metrics are computed at native resolution: the caller resizes logits back.
    """
    decode = _decoder(num_classes, ignore_index)

    def load(image_path, mask_path):
        image, mask = decode(image_path, mask_path)
        image = tf.cast(image, tf.float32)
        if input_size is not None:
            image = tf.image.resize(image, input_size, method="bilinear")
        return image, mask

    return _paths(samples).map(load, num_parallel_calls=AUTOTUNE, deterministic=True).prefetch(AUTOTUNE)

