"""Image-level tag loss: WILDCAT pooling of the segmenter's class maps into multi-label scores.

Durand, Mordan, Thome & Cord, "WILDCAT: Weakly Supervised Learning of Deep ConvNets for Image
Classification, Pointwise Localization and Segmentation", CVPR 2017. Each class map is pooled into one
score: the mean of its `kmax` highest regions plus `alpha` x the mean of its `kmin` lowest (negative
evidence), trained with a sigmoid cross-entropy against the image's tags. The class maps are the
segmenter's own logits, so the trained segmenter segments without any other head.

`absent_weight` adds a pixel term the paper does not have: each pixel's softmax mass on the classes
the image is NOT tagged with is pushed to zero (-log of the mass on tagged classes). WILDCAT trains each
class map on its own; segmentation takes an argmax across them, which this term calibrates.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from semiseg_tf.losses.reduction import share_of_global_mean
from semiseg_tf.models.layers import PACKAGE


def region_count(k: float, n: int) -> int:
    """WILDCAT's k: a share of the n regions when below 1, else a count (at least 1, at most n)."""
    return max(1, min(n, round(k * n) if k < 1 else int(k)))


def wildcat_pool(maps: tf.Tensor, kmax: float, kmin: float, alpha: float) -> tf.Tensor:
    """Class scores (B, C) from class maps (B, H, W, C): mean of the top `kmax` regions + `alpha` x mean
    of the lowest `kmin` (`alpha` = 0 drops negative evidence)."""
    shape = tf.shape(maps)
    n = maps.shape[1] * maps.shape[2] if maps.shape[1] and maps.shape[2] else None
    if n is None:
        raise ValueError("wildcat_pool needs class maps of static height and width")
    flat = tf.transpose(tf.reshape(maps, [shape[0], n, shape[3]]), [0, 2, 1])  # (B, C, n)
    top = tf.math.top_k(flat, region_count(kmax, n), sorted=False).values
    scores = tf.reduce_mean(top, -1)
    if alpha:
        bottom = -tf.math.top_k(-flat, region_count(kmin, n), sorted=False).values
        scores += alpha * tf.reduce_mean(bottom, -1)
    return scores


@keras.saving.register_keras_serializable(package=PACKAGE)
class TagLoss(keras.losses.Loss):
    """Multi-label loss of WILDCAT-pooled class maps against multi-hot tags (B, C), plus the optional
    absent-class pixel term; both are means over the global batch.

    Args:
        kmax, kmin: regions pooled (a share of the map below 1, else a count); the paper's VOC setting 0.2.
        alpha: weight of the lowest regions (negative evidence); the paper uses 0.7.
        pool_stride: the logits are average-pooled by this factor first (WILDCAT pools stride-32 maps;
            this keeps top-k cheap on full-resolution logits).
        absent_weight: weight of the absent-class pixel term (0 = WILDCAT as published).
    """

    def __init__(self, kmax: float = 0.2, kmin: float = 0.2, alpha: float = 0.7, pool_stride: int = 4,
                 absent_weight: float = 1.0, name="tag_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.kmax, self.kmin, self.alpha = float(kmax), float(kmin), float(alpha)
        self.pool_stride, self.absent_weight = int(pool_stride), float(absent_weight)

    def parts(self, tags: tf.Tensor, logits: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """(tag classification, absent-class) terms, each this replica's share of its global mean."""
        tags = tf.cast(tags, tf.float32)
        maps = tf.cast(logits, tf.float32)
        if self.pool_stride > 1:
            maps = tf.nn.avg_pool2d(maps, self.pool_stride, self.pool_stride, "VALID")
        scores = wildcat_pool(maps, self.kmax, self.kmin, self.alpha)
        per_class = tf.nn.sigmoid_cross_entropy_with_logits(labels=tags, logits=scores)
        classification = share_of_global_mean(tf.reduce_sum(per_class), tf.cast(tf.size(per_class), tf.float32))
        if not self.absent_weight:
            return classification, tf.zeros(())
        # log of the softmax mass on tagged classes, stably: logsumexp over tagged - logsumexp over all
        tagged = tf.where(tags[:, None, None, :] > 0, maps, -1e9)
        absent = tf.reduce_logsumexp(maps, -1) - tf.reduce_logsumexp(tagged, -1)
        has_tags = tf.cast(tf.reduce_any(tags > 0, -1), tf.float32)[:, None, None] * tf.ones_like(absent)
        absent = share_of_global_mean(tf.reduce_sum(absent * has_tags), tf.reduce_sum(has_tags))
        return classification, absent

    def call(self, y_true, y_pred):
        classification, absent = self.parts(y_true, y_pred)
        return classification + self.absent_weight * absent

    def get_config(self):
        return {**super().get_config(), "kmax": self.kmax, "kmin": self.kmin, "alpha": self.alpha,
                "pool_stride": self.pool_stride, "absent_weight": self.absent_weight}
