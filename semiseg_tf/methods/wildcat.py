"""WILDCAT: a segmenter trained from image-level tags alone (Durand et al., CVPR 2017).

The segmenter's logits are the class maps; `TagLoss` pools them per class (top and bottom regions) into
multi-label scores trained against the tags. The trained segmenter is used as it is, or its predictions,
restricted to each training image's tags (`semiseg-tf pseudo-label --tags`), become label maps for a
second, fully supervised round.

WILDCAT's multi-map transfer layer (M 1x1-convolution maps per class, averaged class-wise before spatial
pooling) is not added: the average of M linear maps of the same features is one linear map, so the
segmenter's 1x1 classifier already spans it (M changes only the parametrisation, not the class maps a
model can express).
"""

from __future__ import annotations

import keras

from semiseg_tf.losses.reduction import global_value
from semiseg_tf.losses.tags import TagLoss
from semiseg_tf.methods.base import SegmentationMethod
from semiseg_tf.models.layers import PACKAGE


@keras.saving.register_keras_serializable(package=PACKAGE)
class Wildcat(SegmentationMethod):
    """Train from image tags with WILDCAT pooling (`semiseg_tf.losses.tags`); logs `loss_tags` and
    `loss_absent`. Options as `TagLoss`: kmax, kmin, alpha, pool_stride, absent_weight."""

    consumes = "tags"

    def __init__(self, segmenter: keras.Model, kmax: float = 0.2, kmin: float = 0.2, alpha: float = 0.7,
                 pool_stride: int = 4, absent_weight: float = 1.0, **kwargs):
        super().__init__(segmenter, **kwargs)
        self.tag_loss = TagLoss(kmax, kmin, alpha, pool_stride, absent_weight)
        self.tags_tracker = keras.metrics.Mean(name="loss_tags")
        self.absent_tracker = keras.metrics.Mean(name="loss_absent")

    def label_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        classification, absent = self.tag_loss.parts(y, y_pred)
        self.tags_tracker.update_state(global_value(classification))
        self.absent_tracker.update_state(global_value(absent))
        return classification + self.tag_loss.absent_weight * absent

    def method_config(self) -> dict:
        config = self.tag_loss.get_config()
        return {**{name: config[name] for name in ("kmax", "kmin", "alpha", "pool_stride", "absent_weight")},
                **self.crf_config()}
