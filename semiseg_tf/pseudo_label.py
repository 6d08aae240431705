"""Data distillation: label an unlabeled pool with a multi-transform ensemble of a trained model.

Radosavovic, Dollar, Girshick, Gkioxari & He, "Data Distillation: Towards Omni-Supervised
Learning", CVPR 2018. Each image is predicted under several transforms (flips, scales),
every prediction is mapped back to the image (T^-1 f(T x)), the class probabilities are
averaged, and pixels whose ensemble confidence is below a threshold become 255 (ignore).
`semiseg-tf train --extra-labels OUT` then trains on labeled + pseudo-labeled images;
repeating both steps with the new model gives rounds of self-training.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

from semiseg_tf.data import read_image, write_png
from semiseg_tf.methods.geometric import Transform


def ensemble_probabilities(predict, image: tf.Tensor, transforms: Sequence[Transform],
                           input_size=None) -> tf.Tensor:
    """Mean of T^-1 softmax(f(T x)) over `transforms`, at the image's own size (H, W, C).

    Args:
        predict: maps a float [0, 255] batch (N, h, w, 3) to logits (N, h, w, C).
        image: one image (H, W, 3), any numeric dtype.
        input_size: (h, w) the model works at (its training size); None = the image size.
    """
    image = tf.cast(image, tf.float32)
    native = tf.shape(image)[:2]
    batch = image[None] if input_size is None else tf.image.resize(image[None], input_size, method="bilinear")
    total = 0.0
    for transform in transforms:
        probabilities = tf.nn.softmax(tf.cast(predict(transform.forward(batch)), tf.float32))
        total += transform.inverse(probabilities, native)
    return total[0] / len(transforms)


def pseudo_label_mask(probabilities, threshold: float, ignore_index: int = 255) -> np.ndarray:
    """Argmax class ids (uint8), `ignore_index` where the top probability is below `threshold`."""
    probabilities = np.asarray(probabilities)
    labels = probabilities.argmax(axis=-1).astype(np.uint8)
    labels[probabilities.max(axis=-1) < threshold] = ignore_index
    return labels


def pseudo_label_images(model: keras.Model, images: Sequence[Path], out: str | Path,
                        transforms: Sequence[Transform], threshold: float, input_size=None,
                        ignore_index: int = 255, palette=None, source: dict | None = None) -> dict:
    """Write `<out>/<stem>.png` for every image and `<out>/pseudo_labels.json` (settings, coverage)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    predict = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    num_classes = int(model.output_shape[-1])
    class_pixels = np.zeros(num_classes, np.int64)
    coverage = {}
    started = time.time()
    for path in images:
        probabilities = ensemble_probabilities(predict, read_image(path), transforms, input_size)
        mask = pseudo_label_mask(probabilities, threshold, ignore_index)
        write_png(out / f"{Path(path).stem}.png", mask, palette)
        kept = mask[mask != ignore_index]
        class_pixels += np.bincount(kept, minlength=num_classes)[:num_classes]
        coverage[Path(path).stem] = round(float(kept.size / mask.size), 4)
    seconds = time.time() - started
    summary = {
        **(source or {}), "transforms": [t.name for t in transforms], "threshold": threshold,
        "input_size": list(input_size) if input_size else None, "ignore_index": ignore_index,
        "images": len(coverage),
        "mean_coverage": round(float(np.mean(list(coverage.values()))), 4) if coverage else 0.0,
        "class_pixels": class_pixels.tolist(), "seconds": round(seconds, 2),
        "seconds_per_image": round(seconds / max(len(coverage), 1), 4), "coverage": coverage,
    }
    (out / "pseudo_labels.json").write_text(json.dumps(summary, indent=1))
    return summary
