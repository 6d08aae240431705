"""Transformation equivariance as a training signal: f(T x) should equal T f(x).

For segmentation, flips and quarter turns move labels with pixels, so a divergence
between f(T x) and T f(x) is an error signal that needs no labels (Li et al.,
"Transformation-Consistent Self-Ensembling Model for Semi-Supervised Medical Image
Segmentation", IEEE TNNLS 2021; Wang et al., "Self-supervised Equivariant Attention
Mechanism for Weakly Supervised Semantic Segmentation", CVPR 2020). Every semi-supervised
method accepts `equivariance_weight`; this method is supervised training plus that term alone.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from semiseg_tf.methods.semi import SemiSupervisedMethod
from semiseg_tf.models.layers import PACKAGE


@keras.saving.register_keras_serializable(package=PACKAGE)
class Equivariance(SemiSupervisedMethod):
    """Supervised cross-entropy + equivariance_weight x KL(T f(x) || f(T x)) on labeled + unlabeled images.

    Args: equivariance_weight (1.0 here), equivariance_transforms ("hflip"):
    see SemiSupervisedMethod.
    """

    part_names = ("loss_sup",)

    def __init__(self, segmenter, equivariance_weight: float = 1.0, **kwargs):
        if equivariance_weight <= 0:
            raise ValueError(f"equivariance_weight must be > 0 for this method, got {equivariance_weight}")
        super().__init__(segmenter, equivariance_weight=equivariance_weight, **kwargs)

    def loss_parts(self, images, masks, unlabeled):
        joint = tf.concat([images, unlabeled], axis=0)
        logits = self.segmenter(joint, training=True)
        return {"loss_sup": self.supervised_loss(images, masks, logits[:tf.shape(images)[0]])}, (joint, logits)
