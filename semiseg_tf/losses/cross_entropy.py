"""Masked (partial) cross-entropy: dense or sparse masks, `ignore_index` pixels (255) skipped."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from semiseg_tf.losses.reduction import share_of_global_mean
from semiseg_tf.models.layers import PACKAGE


@keras.saving.register_keras_serializable(package=PACKAGE)
class MaskedCrossEntropy(keras.losses.Loss):
    """Per-pixel softmax cross-entropy that skips `ignore_index` pixels.

    With `class_weights` the mean is weighted by the weight of each pixel's class, as
    in PyTorch's `CrossEntropyLoss(weight=..., ignore_index=...)`, so rare classes
    (poles, signs, cyclists) are not drowned by road and sky. On sparse masks (scribbles,
    points, coarse: 255 = unlabeled) this is the partial cross-entropy of weak supervision.

    `call` returns the replica's share of the mean over the global batch (see `reduction`), so
    it is the plain weighted mean on one device and stays right under a distribution strategy;
    the `reduction` argument of `keras.losses.Loss` is therefore unused (a scalar passes through).
    """

    def __init__(self, ignore_index: int = 255, class_weights=None, name="masked_cross_entropy",
                 **kwargs):
        super().__init__(name=name, **kwargs)
        self.ignore_index = ignore_index
        self.class_weights = None if class_weights is None else [float(w) for w in class_weights]

    def call(self, y_true, y_pred):
        labels = tf.cast(y_true, tf.int32)
        valid = tf.not_equal(labels, self.ignore_index)
        safe = tf.where(valid, labels, tf.zeros_like(labels))
        per_pixel = tf.nn.sparse_softmax_cross_entropy_with_logits(safe, tf.cast(y_pred, tf.float32))
        weight = tf.cast(valid, tf.float32)
        if self.class_weights is not None:
            weight *= tf.gather(tf.constant(self.class_weights, tf.float32), safe)
        # One scalar per batch: normalise by the total weight over the global batch, not per image.
        return share_of_global_mean(tf.reduce_sum(per_pixel * weight), tf.reduce_sum(weight))

    def get_config(self):
        return {**super().get_config(), "ignore_index": self.ignore_index,
                "class_weights": self.class_weights}


def median_frequency_weights(class_pixel_counts: np.ndarray, image_pixel_counts: np.ndarray,
                             power: float = 1.0) -> np.ndarray:
    """Median-frequency balancing (Eigen & Fergus 2015, used by SegNet on CamVid).

    freq_c = pixels of c / pixels of the images where c appears; w_c = median(freq) / freq_c.
    Classes never seen get weight 0 (they cannot be learned from these labels anyway).
    `power=0.5` softens the weights (square root), so frequent classes are not starved.
    """
    counts = np.asarray(class_pixel_counts, np.float64)
    present = np.asarray(image_pixel_counts, np.float64)
    freq = np.divide(counts, present, out=np.zeros_like(counts), where=present > 0)
    median = np.median(freq[freq > 0]) if (freq > 0).any() else 1.0
    return np.divide(median, freq, out=np.zeros_like(freq), where=freq > 0) ** power
