"""Boxes as a loss: the box-tightness prior (Hsu et al., NeurIPS 2019) on top of box label maps.

The round-one label maps (`semiseg_tf.weak.box_labels`) train with the masked cross-entropy as in plain
box training; `BoxLoss` adds, from the boxes themselves, a MIL term per row and column of every box (the
object touches each) and the box-candidate term (a pixel is one of the classes whose boxes cover it).
"""

from __future__ import annotations

import keras

from semiseg_tf.losses.boxes import BoxLoss
from semiseg_tf.losses.reduction import global_value
from semiseg_tf.methods.base import SegmentationMethod
from semiseg_tf.models.layers import PACKAGE


@keras.saving.register_keras_serializable(package=PACKAGE)
class BBTP(SegmentationMethod):
    """Box label maps + tightness and candidate terms; receives (images, {"masks", "boxes"}) and logs
    `loss_tight` and `loss_candidate`.

    Args:
        tight_weight: weight of the tightness MIL term (1, as the paper's unary term).
        candidate_weight: weight of the box-candidate term (1).
        box_pool_stride: the box terms run on logits average-pooled by this factor (4).
    """

    consumes = "boxes"

    def __init__(self, segmenter: keras.Model, tight_weight: float = 1.0, candidate_weight: float = 1.0,
                 box_pool_stride: int = 4, **kwargs):
        super().__init__(segmenter, **kwargs)
        self.tight_weight, self.candidate_weight = float(tight_weight), float(candidate_weight)
        self.box_loss = BoxLoss(pool_stride=box_pool_stride)
        self.tight_tracker = keras.metrics.Mean(name="loss_tight")
        self.candidate_tracker = keras.metrics.Mean(name="loss_candidate")

    def label_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        masks = super().label_loss(x=x, y=y["masks"], y_pred=y_pred, sample_weight=sample_weight, training=training)
        tight, candidate = self.box_loss.parts(y["boxes"], y_pred)
        self.tight_tracker.update_state(global_value(tight))
        self.candidate_tracker.update_state(global_value(candidate))
        return masks + self.tight_weight * tight + self.candidate_weight * candidate

    def method_config(self) -> dict:
        return {"tight_weight": self.tight_weight, "candidate_weight": self.candidate_weight,
                "box_pool_stride": self.box_loss.pool_stride, **self.crf_config()}
