"""Segmentation metrics from a confusion matrix (rows = truth, columns = prediction)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def confusion_matrix(labels, predictions, num_classes: int, ignore_index: int = 255) -> np.ndarray:
    """Confusion matrix of class ids, skipping ignored pixels."""
    labels = tf.reshape(tf.cast(labels, tf.int64), [-1])
    predictions = tf.reshape(tf.cast(predictions, tf.int64), [-1])
    keep = tf.logical_and(tf.not_equal(labels, ignore_index), labels < num_classes)
    index = tf.boolean_mask(labels * num_classes + predictions, keep)
    counts = tf.math.bincount(index, minlength=num_classes**2, maxlength=num_classes**2, dtype=tf.int64)
    return tf.reshape(counts, [num_classes, num_classes]).numpy()


def scores(confusion: np.ndarray, names: list[str] | None = None) -> dict:
    """mIoU, per-class IoU, pixel accuracy and mean class accuracy.

    A class absent from both truth and prediction has no IoU (NaN) and is left out of
    the mean, as in MMSegmentation.
    """
    confusion = np.asarray(confusion, np.float64)
    true_positive = np.diag(confusion)
    union = confusion.sum(0) + confusion.sum(1) - true_positive
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, true_positive / union, np.nan)
        class_acc = np.where(confusion.sum(1) > 0, true_positive / confusion.sum(1), np.nan)
    names = names or [str(i) for i in range(len(iou))]
    return {
        "miou": float(np.nanmean(iou)),
        "pixel_accuracy": float(true_positive.sum() / max(confusion.sum(), 1)),
        "mean_accuracy": float(np.nanmean(class_acc)),
        "per_class_iou": {n: (None if np.isnan(v) else float(v)) for n, v in zip(names, iou)},
        "pixels": int(confusion.sum()),
    }


def format_table(result: dict) -> str:
    """A plain-text table of per-class IoU followed by the summary line."""
    width = max(len(n) for n in result["per_class_iou"]) + 2
    lines = [f"{'class':<{width}}IoU"]
    for name, value in result["per_class_iou"].items():
        lines.append(f"{name:<{width}}{'  n/a' if value is None else f'{100 * value:5.1f}'}")
    lines.append(f"{'mIoU':<{width}}{100 * result['miou']:5.1f}   pixel acc "
                 f"{100 * result['pixel_accuracy']:.1f}   mean acc {100 * result['mean_accuracy']:.1f}")
    return "\n".join(lines)
