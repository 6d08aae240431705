"""UniMatch: FixMatch with two strong views and a feature-perturbed view of the weak image.

Yang, Qi, Feng, Zhang & Shi, "Revisiting Weak-to-Strong Consistency in Semi-Supervised
Semantic Segmentation", CVPR 2023. Loss weights as in the paper's code:
loss_unsup = 0.25 * strong1 + 0.25 * strong2 + 0.5 * feature-perturbed.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from semiseg_tf.methods.fixmatch import FixMatch
from semiseg_tf.methods.semi import confident_pseudo_labels, pseudo_label_loss
from semiseg_tf.models.layers import PACKAGE


class FeatureSplit:
    """The segmenter cut at its encoder's output: `encode(images)` -> features, `decode([images, *features])`.

    Both share the segmenter's layers; kept in a plain object so Keras does not track
    (and checkpoint) the same weights twice.
    """

    def __init__(self, segmenter: keras.Model):
        features = list(segmenter.encoder_features)
        self.encode = keras.Model(segmenter.inputs, features)
        self.decode = keras.Model([segmenter.inputs[0], *features], segmenter.outputs)


@keras.saving.register_keras_serializable(package=PACKAGE)
class UniMatch(FixMatch):
    """Args: feature_dropout: channel-dropout rate on every encoder feature (nn.Dropout2d(0.5) in the paper).

    (threshold, cutmix_p and the shared options: see FixMatch and SemiSupervisedMethod)
    """

    part_names = ("loss_sup", "loss_unsup", "loss_strong", "loss_fp", "mask_ratio")

    def __init__(self, segmenter, feature_dropout: float = 0.5, **kwargs):
        super().__init__(segmenter, **kwargs)
        self.feature_dropout = float(feature_dropout)
        self.split = FeatureSplit(segmenter)

    def channel_dropout(self, features):
        keep = 1.0 - self.feature_dropout
        noise = keras.random.uniform((tf.shape(features)[0], 1, 1, features.shape[-1]), seed=self.seed_generator)
        return features * tf.cast(noise < keep, features.dtype) / keep

    def loss_parts(self, images, masks, unlabeled):
        joint = tf.concat([images, unlabeled], axis=0)
        n_labeled, n_joint = tf.shape(images)[0], tf.shape(joint)[0]
        features = self.split.encode(joint, training=True)
        perturbed = [tf.concat([f, self.channel_dropout(f[n_labeled:])], axis=0) for f in features]
        all_logits = self.split.decode([tf.concat([joint, unlabeled], axis=0), *perturbed], training=True)
        logits, logits_fp = all_logits[:n_joint], all_logits[n_joint:]
        labels, confidence, confident = confident_pseudo_labels(logits[n_labeled:], self.threshold)
        loss_strong = 0.5 * (self.strong_loss(unlabeled, labels, confidence)
                             + self.strong_loss(unlabeled, labels, confidence))
        loss_fp = pseudo_label_loss(logits_fp, labels, self.pseudo_label_weights(labels, confident > 0))
        parts = {"loss_sup": self.supervised_loss(images, masks, logits[:n_labeled]),
                 "loss_unsup": 0.5 * loss_strong + 0.5 * loss_fp, "loss_strong": loss_strong,
                 "loss_fp": loss_fp, "mask_ratio": tf.reduce_mean(confident)}
        return parts, (joint, logits)

    def method_config(self) -> dict:
        return {**super().method_config(), "feature_dropout": self.feature_dropout}
