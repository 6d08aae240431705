"""Data distillation: label an unlabeled pool with a multi-transform ensemble of a trained model.

Radosavovic, Dollar, Girshick, Gkioxari & He, "Data Distillation: Towards Omni-Supervised
Learning", CVPR 2018. Each image is predicted under several transforms (flips, scales),
every prediction is mapped back to the image (T^-1 f(T x)), the class probabilities are
averaged, and pixels whose ensemble confidence is below a threshold become 255 (ignore).

A single threshold keeps mostly the classes a model is sure of (on CamVid: road and sky,
hardly any pole or sign, see docs/2026-11-25-data-distillation.md). `class_balance=p` adds class-balanced selection
(CBST: Zou, Yu, Kumar & Wang, "Unsupervised Domain Adaptation for Semantic Segmentation via
Class-Balanced Self-Training", ECCV 2018): each class's threshold is lowered, when needed, so
that the most confident fraction p of the pixels predicted as that class is kept.
`semiseg-tf train --extra-labels OUT` then trains on labeled + pseudo-labeled images;
repeating both steps with the new model gives rounds of self-training.

With weak labels, a `constraint` (`semiseg_tf.weak.constraints`: boxes or tags) restricts each pixel to
the classes its annotation allows before the argmax, and repairs the result (Simple Does It's rounds).
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


def pseudo_label_mask(probabilities, threshold, ignore_index: int = 255) -> np.ndarray:
    """Argmax class ids (uint8), `ignore_index` where the top probability is below `threshold`
    (a number, or one threshold per class)."""
    probabilities = np.asarray(probabilities)
    labels = probabilities.argmax(axis=-1).astype(np.uint8)
    return select_confident(labels, probabilities.max(axis=-1), threshold, ignore_index)


def select_confident(labels: np.ndarray, confidence: np.ndarray, threshold, ignore_index: int = 255) -> np.ndarray:
    """`labels` with `ignore_index` where `confidence` is below the (per-class) threshold of its label."""
    limit = np.asarray(threshold, np.float32)
    limit = limit[labels] if limit.ndim else limit
    return np.where(confidence >= limit, labels, ignore_index).astype(np.uint8)


def class_balanced_thresholds(labels: Sequence[np.ndarray], confidences: Sequence[np.ndarray],
                              num_classes: int, threshold: float, portion: float) -> np.ndarray:
    """Per-class thresholds min(threshold, k_c), k_c = the confidence above which the top `portion`
    of all pixels predicted as class c lie (CBST); `threshold` for classes never predicted."""
    thresholds = np.full(num_classes, threshold, np.float32)
    for c in range(num_classes):
        scores = np.concatenate([conf[(lab == c) & (conf >= 0)] for lab, conf in zip(labels, confidences)])
        if scores.size:
            thresholds[c] = min(threshold, float(np.quantile(scores.astype(np.float32), 1.0 - portion)))
    return thresholds


def pseudo_label_images(model: keras.Model, images: Sequence[Path], out: str | Path,
                        transforms: Sequence[Transform], threshold: float, input_size=None,
                        ignore_index: int = 255, palette=None, source: dict | None = None,
                        class_balance: float | None = None, constraint=None) -> dict:
    """Write `<out>/<stem>.png` for every image and `<out>/pseudo_labels.json` (settings, coverage).

    With `class_balance` the masks are written after the whole pool is predicted (the
    per-class thresholds depend on all of it); labels and float16 confidences are held in
    memory meanwhile, 3 bytes per pixel. With a `constraint` (`restrict(stem, probabilities)`,
    `repair(stem, labels)`), pixels where it allows no class are unlabeled.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    predict = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    num_classes = int(model.output_shape[-1])
    started = time.time()
    predictions = []  # (stem, labels, confidence): only kept when the thresholds need the whole pool
    class_pixels = np.zeros(num_classes, np.int64)
    coverage = {}

    def write(stem: str, labels: np.ndarray, confidence: np.ndarray, limit) -> None:
        mask = select_confident(labels, confidence, limit, ignore_index)
        if constraint is not None:
            mask = constraint.repair(stem, mask)
        write_png(out / f"{stem}.png", mask, palette)
        kept = mask[mask != ignore_index]
        class_pixels[:] += np.bincount(kept, minlength=num_classes)[:num_classes]
        coverage[stem] = round(float(kept.size / mask.size), 4)

    for path in images:
        probabilities = np.asarray(ensemble_probabilities(predict, read_image(path), transforms, input_size))
        if constraint is not None:
            probabilities = constraint.restrict(Path(path).stem, probabilities)
        confidence = np.where(probabilities.sum(-1) > 0, probabilities.max(-1), -1).astype(np.float16)
        labels = probabilities.argmax(-1).astype(np.uint8)
        if class_balance is None:
            write(Path(path).stem, labels, confidence, threshold)
        else:
            predictions.append((Path(path).stem, labels, confidence))
    thresholds = None
    if class_balance is not None:
        thresholds = class_balanced_thresholds([p[1] for p in predictions], [p[2] for p in predictions],
                                               num_classes, threshold, class_balance)
        for stem, labels, confidence in predictions:
            write(stem, labels, confidence, thresholds)
    seconds = time.time() - started
    summary = {
        **(source or {}), "transforms": [t.name for t in transforms], "threshold": threshold,
        "class_balance": class_balance, **(constraint.describe() if constraint is not None else {}),
        "class_thresholds": thresholds.round(4).tolist() if thresholds is not None else None,
        "input_size": list(input_size) if input_size else None, "ignore_index": ignore_index,
        "images": len(coverage),
        "mean_coverage": round(float(np.mean(list(coverage.values()))), 4) if coverage else 0.0,
        "class_pixels": class_pixels.tolist(), "seconds": round(seconds, 2),
        "seconds_per_image": round(seconds / max(len(coverage), 1), 4), "coverage": coverage,
    }
    (out / "pseudo_labels.json").write_text(json.dumps(summary, indent=1))
    return summary
