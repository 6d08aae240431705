"""Losses on boxes directly: the tightness prior and the box-candidate constraint.

Hsu, Hsu, Lin & Chuang, "Weakly Supervised Instance Segmentation using the Bounding Box Tightness
Prior", NeurIPS 2019: a tight box touches its object on every side, so every row and every column
crossing the box holds at least one pixel of the object (for a connected object, exactly so). Each such
line is a positive multiple-instance bag: the largest probability of the box's class along it should be
1 (-log of it). Label maps from boxes (`semiseg_tf.weak.box_labels`) cannot say this: they label whole
box interiors and leave unlabeled, or guess, where boxes of several classes overlap.

The candidate term says what boxes do say everywhere: a pixel covered by boxes of classes S is one of S,
so the softmax mass on S should be 1 (-log of it; a partial-label loss). Pixels under no box (void, or
regions too small to box) are left out.

Boxes come as a padded (B, K, 5) tensor per batch: class, x0, y0, x1, y1 in pixels of the logits
(corners inclusive), class -1 for padding.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from semiseg_tf.losses.reduction import share_of_global_mean
from semiseg_tf.models.layers import PACKAGE


def box_masks(boxes: tf.Tensor, height: int, width: int, stride: int = 1):
    """(rows (B, K, h), columns (B, K, w), inside (B, K, h, w)) boolean masks of each box on a grid
    `stride` times coarser than the boxes' pixels; padding boxes (class < 0) cover nothing."""
    boxes = tf.cast(boxes, tf.float32)
    valid = boxes[..., 0] >= 0
    x0, y0, x1, y1 = (tf.floor(boxes[..., i] / stride) for i in range(1, 5))
    ys = tf.range(height, dtype=tf.float32)
    xs = tf.range(width, dtype=tf.float32)
    rows = (ys >= y0[..., None]) & (ys <= y1[..., None]) & valid[..., None]
    columns = (xs >= x0[..., None]) & (xs <= x1[..., None]) & valid[..., None]
    return rows, columns, rows[..., :, None] & columns[..., None, :]


@keras.saving.register_keras_serializable(package=PACKAGE)
class BoxLoss(keras.losses.Loss):
    """Tightness (MIL over every row and column of every box) and box-candidate terms, each this
    replica's share of its mean over the global batch (bags; covered pixels).

    Args:
        pool_stride: logits are average-pooled by this factor first, boxes scaled to match (cost).
    """

    def __init__(self, pool_stride: int = 4, name="box_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.pool_stride = int(pool_stride)

    def parts(self, boxes: tf.Tensor, logits: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """(tightness, candidate) terms for boxes (B, K, 5) and logits (B, H, W, C)."""
        logits = tf.cast(logits, tf.float32)
        if self.pool_stride > 1:
            logits = tf.nn.avg_pool2d(logits, self.pool_stride, self.pool_stride, "VALID")
        height, width, classes = logits.shape[1], logits.shape[2], logits.shape[3]
        rows, columns, inside = box_masks(boxes, height, width, self.pool_stride)
        rows &= tf.reduce_any(inside, -1)  # a box pooled entirely off the grid has no bags
        columns &= tf.reduce_any(inside, -2)
        box_class = tf.cast(tf.maximum(boxes[..., 0], 0), tf.int32)
        probs = tf.nn.softmax(logits)
        own = tf.transpose(tf.gather(probs, box_class, axis=3, batch_dims=1), [0, 3, 1, 2])  # (B, K, h, w)
        own = tf.where(inside, own, 0.0)
        bags = tf.concat([tf.reduce_max(own, -1), tf.reduce_max(own, -2)], -1)  # rows then columns
        in_box = tf.cast(tf.concat([rows, columns], -1), tf.float32)
        bag_loss = -tf.math.log(tf.maximum(bags, 1e-6)) * in_box
        tightness = share_of_global_mean(tf.reduce_sum(bag_loss), tf.reduce_sum(in_box))

        onehot = tf.one_hot(box_class, classes) * tf.cast(boxes[..., :1] >= 0, tf.float32)
        candidates = tf.einsum("bkhw,bkc->bhwc", tf.cast(inside, tf.float32), onehot) > 0
        covered = tf.cast(tf.reduce_any(candidates, -1), tf.float32)
        # -log of the softmax mass on the candidates: logsumexp over all - logsumexp over candidates
        outside = tf.reduce_logsumexp(logits, -1) - tf.reduce_logsumexp(tf.where(candidates, logits, -1e9), -1)
        candidate = share_of_global_mean(tf.reduce_sum(outside * covered), tf.reduce_sum(covered))
        return tightness, candidate

    def call(self, y_true, y_pred):
        return tf.add_n(self.parts(y_true, y_pred))

    def get_config(self):
        return {**super().get_config(), "pool_stride": self.pool_stride}
