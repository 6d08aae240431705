"""FixMatch for segmentation: confident weak-view predictions supervise a strong, CutMixed view.

Sohn et al., "FixMatch: Simplifying Semi-Supervised Learning with Consistency and
Confidence", NeurIPS 2020; the segmentation form (strong view = colour jitter, grayscale,
blur and CutMix between unlabeled images, threshold 0.95) follows UniMatch's FixMatch
baseline (Yang et al., CVPR 2023).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from semiseg_tf.methods.semi import SemiSupervisedMethod, confident_pseudo_labels, pseudo_label_loss
from semiseg_tf.methods.strong_augment import StrongAugment, cutmix_box, mix, partner
from semiseg_tf.models.layers import PACKAGE


def strong_cutmix_view(strong: tf.Tensor, labels, confidence, box):
    """CutMix a strong batch with its partner images; pseudo-labels and confidences move the same way."""
    return (mix(box, partner(strong), strong), mix(box, partner(labels), labels),
            mix(box, partner(confidence), confidence))


@keras.saving.register_keras_serializable(package=PACKAGE)
class FixMatch(SemiSupervisedMethod):
    """Weak view -> hard pseudo-labels where confidence >= threshold -> cross-entropy on the strong view.

    Args:
        threshold: confidence a weak-view prediction needs to become a pseudo-label (0.95).
        cutmix_p: probability that an unlabeled image gets a CutMix box from its partner (0.5).
        (others: see SemiSupervisedMethod)
    """

    def __init__(self, segmenter, threshold: float = 0.95, cutmix_p: float = 0.5, **kwargs):
        super().__init__(segmenter, **kwargs)
        self.threshold, self.cutmix_p = float(threshold), float(cutmix_p)
        self.strong_augment = StrongAugment(seed=self.seed + 1)

    def weak_forward(self, images, unlabeled):
        """One training-mode pass over labeled + weak unlabeled images (shared BatchNorm statistics)."""
        joint = tf.concat([images, unlabeled], axis=0)
        logits = self.segmenter(joint, training=True)
        return joint, logits, logits[:tf.shape(images)[0]], logits[tf.shape(images)[0]:]

    def strong_loss(self, unlabeled, labels, confidence):
        """Cross-entropy of one strong CutMix view against the mixed confident pseudo-labels."""
        box = cutmix_box(tf.shape(unlabeled), self.seed_generator, self.cutmix_p)
        strong, labels, confidence = strong_cutmix_view(self.strong_augment(unlabeled), labels, confidence, box)
        logits = self.strong_forward(strong)
        return pseudo_label_loss(logits, labels, self.pseudo_label_weights(labels, confidence >= self.threshold))

    def loss_parts(self, images, masks, unlabeled):
        joint, logits, logits_x, logits_u = self.weak_forward(images, unlabeled)
        labels, confidence, confident = confident_pseudo_labels(logits_u, self.threshold)
        parts = {"loss_sup": self.supervised_loss(images, masks, logits_x),
                 "loss_unsup": self.strong_loss(unlabeled, labels, confidence),
                 "mask_ratio": tf.reduce_mean(confident)}
        return parts, (joint, logits)

    def method_config(self) -> dict:
        return {**super().method_config(), "threshold": self.threshold, "cutmix_p": self.cutmix_p}
