"""UDA for segmentation: sharpened soft targets, KL consistency, confidence masking, TSA.

Xie, Dai, Hovy, Luong & Le, "Unsupervised Data Augmentation for Consistency Training",
NeurIPS 2020 (arXiv 2019). Defaults from the paper: temperature 0.4, confidence 0.8,
lambda 1, linear training-signal annealing over the run.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from semiseg_tf.losses.reduction import global_mean
from semiseg_tf.methods.semi import SemiSupervisedMethod, soft_kl
from semiseg_tf.methods.strong_augment import StrongAugment
from semiseg_tf.models.layers import PACKAGE

TSA_SCHEDULES = ("linear", "log", "exp", "none")


def tsa_threshold(progress: tf.Tensor, num_classes: int, schedule: str) -> tf.Tensor:
    """eta_t = alpha_t (1 - 1/K) + 1/K; labeled pixels predicted above it leave the loss."""
    t = tf.clip_by_value(tf.cast(progress, tf.float32), 0.0, 1.0)
    alpha = {"linear": lambda: t, "log": lambda: 1.0 - tf.exp(-5.0 * t),
             "exp": lambda: tf.exp(5.0 * (t - 1.0)), "none": lambda: tf.constant(1.0)}[schedule]()
    return alpha * (1.0 - 1.0 / num_classes) + 1.0 / num_classes


@keras.saving.register_keras_serializable(package=PACKAGE)
class UDA(SemiSupervisedMethod):
    """Args:
        temperature: softmax temperature that sharpens the weak-view targets (0.4).
        threshold: weak-view confidence below which a pixel is masked out (0.8).
        tsa: training-signal annealing schedule on the supervised loss: linear, log, exp or none.
        tsa_steps: length of the annealing; 0 = the run's length (filled in by `train`; 1000 when
            UDA is built by hand without it).
    """

    part_names = ("loss_sup", "loss_unsup", "mask_ratio", "tsa_ratio")
    run_length_options = ("tsa_steps",)

    def __init__(self, segmenter, temperature: float = 0.4, threshold: float = 0.8, tsa: str = "linear",
                 tsa_steps: int = 0, **kwargs):
        super().__init__(segmenter, **kwargs)
        if tsa not in TSA_SCHEDULES:
            raise ValueError(f"unknown tsa schedule '{tsa}'; valid: {list(TSA_SCHEDULES)}")
        self.temperature, self.threshold = float(temperature), float(threshold)
        self.tsa, self.tsa_steps = tsa, int(tsa_steps)
        self.strong_augment = StrongAugment(seed=self.seed + 1)

    def annealed_masks(self, masks, logits):
        """Masks with correctly predicted pixels above the TSA threshold set to ignore."""
        ignore = getattr(self.loss, "ignore_index", 255)  # the compiled MaskedCrossEntropy's
        steps = self.tsa_steps or 1000
        eta = tsa_threshold(tf.cast(self.optimizer.iterations, tf.float32) / steps, logits.shape[-1], self.tsa)
        labels = tf.cast(masks, tf.int32)
        valid = labels != ignore
        p_true = tf.reduce_sum(tf.nn.softmax(tf.stop_gradient(logits))
                               * tf.one_hot(tf.where(valid, labels, 0), logits.shape[-1]), axis=-1)
        dropped = valid & (p_true > eta)
        kept = tf.reduce_sum(tf.cast(valid & ~dropped, tf.float32)) / tf.maximum(
            tf.reduce_sum(tf.cast(valid, tf.float32)), 1.0)
        return tf.where(dropped, tf.cast(ignore, masks.dtype), masks), kept

    def loss_parts(self, images, masks, unlabeled):
        joint = tf.concat([images, unlabeled], axis=0)
        n_labeled = tf.shape(images)[0]
        logits = self.segmenter(joint, training=True)
        masks, tsa_ratio = self.annealed_masks(masks, logits[:n_labeled])
        weak = tf.stop_gradient(logits[n_labeled:])
        target = tf.nn.softmax(weak / self.temperature)
        confident = tf.cast(tf.reduce_max(tf.nn.softmax(weak), axis=-1) >= self.threshold, tf.float32)
        strong_logits = self.strong_forward(self.strong_augment(unlabeled))
        parts = {"loss_sup": self.supervised_loss(images, masks, logits[:n_labeled]),
                 "loss_unsup": global_mean(soft_kl(target, strong_logits) * confident),
                 "mask_ratio": tf.reduce_mean(confident), "tsa_ratio": tsa_ratio}
        return parts, (joint, logits)

    def method_config(self) -> dict:
        return {**super().method_config(), "temperature": self.temperature, "threshold": self.threshold,
                "tsa": self.tsa, "tsa_steps": self.tsa_steps}
