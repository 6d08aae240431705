"""Copy-paste: classes cut from labeled images are pasted onto unlabeled ones, then FixMatch.

Pseudo-labels only repeat what the model already segments, so classes it misses on
unlabeled frames (thin, rare ones) gain nothing from them. Pasting the pixels of some
classes of a labeled image onto an unlabeled image (ClassMix's mask, Olsson et al.,
WACV 2021, used across labeled and unlabeled images as in DACS, Tranheden et al.,
WACV 2021) puts real instances with their true labels into new scenes; the rest of
the image keeps its confident pseudo-labels. Each class present in the labeled image
is pasted with probability `paste_p`, times its class weight when `rare_class_paste`
is on (rare classes pasted more often, like DAFormer's rare-class sampling, Hoyer et
al., CVPR 2022). The mixed image then takes FixMatch's strong view and CutMix.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from semiseg_tf.methods.fixmatch import FixMatch
from semiseg_tf.methods.semi import confident_pseudo_labels
from semiseg_tf.models.layers import PACKAGE


def class_paste_mask(masks: tf.Tensor, probabilities: tf.Tensor, seed_generator) -> tf.Tensor:
    """(N, H, W) bool: the pixels of the classes drawn in each mask, each class present drawn with
    its probability in `probabilities` (C,); ignored pixels (ids >= C) are never drawn."""
    num_classes = probabilities.shape[0]
    masks = tf.cast(masks, tf.int32)
    valid = masks < num_classes
    present = tf.reduce_max(tf.one_hot(tf.where(valid, masks, -1), num_classes), axis=(1, 2)) > 0
    drawn = keras.random.uniform((tf.shape(masks)[0], num_classes), seed=seed_generator) < probabilities
    return tf.gather(present & drawn, tf.where(valid, masks, 0), batch_dims=1) & valid


def paste(images, masks, unlabeled, labels, confidence, where):
    """Unlabeled image i takes labeled image i mod N's pixels where `where` (drawn on the labeled
    masks): their true labels with confidence 1 there, its own pseudo-labels elsewhere."""
    source = tf.range(tf.shape(unlabeled)[0]) % tf.shape(images)[0]
    where = tf.gather(where, source)
    pasted = tf.where(where[..., None], tf.gather(images, source), unlabeled)
    labels = tf.where(where, tf.gather(tf.cast(masks, labels.dtype), source), labels)
    return pasted, labels, tf.where(where, 1.0, confidence)


@keras.saving.register_keras_serializable(package=PACKAGE)
class CopyPaste(FixMatch):
    """FixMatch whose unlabeled images first receive classes pasted from the labeled batch.

    Args:
        paste_p: probability that a class present in a labeled image is pasted (0.5, ClassMix's half).
        rare_class_paste: multiply each class's probability by the supervised loss's class weight
            (capped at 1), so rare classes are pasted more often (True; no effect without class weights).
        (threshold, cutmix_p and the rest: see FixMatch and SemiSupervisedMethod)
    """

    part_names = ("loss_sup", "loss_unsup", "mask_ratio", "paste_ratio")

    def __init__(self, segmenter, paste_p: float = 0.5, rare_class_paste: bool = True, **kwargs):
        if not 0 <= paste_p <= 1:
            raise ValueError(f"paste_p must be in [0, 1], got {paste_p}")
        super().__init__(segmenter, **kwargs)
        self.paste_p, self.rare_class_paste = float(paste_p), bool(rare_class_paste)

    def paste_probabilities(self) -> tf.Tensor:
        """Per class: paste_p, times the compiled loss's class weight when `rare_class_paste`, capped at 1."""
        probabilities = tf.fill((self.segmenter.num_classes,), self.paste_p)
        class_weights = getattr(self.loss, "class_weights", None)
        if self.rare_class_paste and class_weights is not None:
            probabilities = tf.minimum(probabilities * tf.constant(class_weights, tf.float32), 1.0)
        return probabilities

    def loss_parts(self, images, masks, unlabeled):
        joint, logits, logits_x, logits_u = self.weak_forward(images, unlabeled)
        labels, confidence, confident = confident_pseudo_labels(logits_u, self.threshold)
        where = class_paste_mask(masks, self.paste_probabilities(), self.seed_generator)
        pasted, labels, confidence = paste(images, masks, unlabeled, labels, confidence, where)
        parts = {"loss_sup": self.supervised_loss(images, masks, logits_x),
                 "loss_unsup": self.strong_loss(pasted, labels, confidence),
                 "mask_ratio": tf.reduce_mean(confident),
                 "paste_ratio": tf.reduce_mean(tf.cast(where, tf.float32))}
        return parts, (joint, logits)

    def method_config(self) -> dict:
        return {**super().method_config(), "paste_p": self.paste_p, "rare_class_paste": self.rare_class_paste}
