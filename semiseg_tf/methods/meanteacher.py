"""Mean Teacher: an exponential moving average of the student supervises it on unlabeled images.

Tarvainen & Valpola, "Mean teachers are better role models: Weight-averaged consistency
targets improve semi-supervised deep learning results", NeurIPS 2017. Defaults from the
paper: EMA decay 0.99 (with the 1 - 1/(step + 1) warm-up), squared-error consistency on
softmax outputs, sigmoid ramp-up of its weight.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from semiseg_tf.losses.reduction import global_mean
from semiseg_tf.methods.semi import SemiSupervisedMethod, clone_segmenter
from semiseg_tf.methods.strong_augment import StrongAugment
from semiseg_tf.models.layers import PACKAGE


@keras.saving.register_keras_serializable(package=PACKAGE)
class MeanTeacher(SemiSupervisedMethod):
    """The teacher is tracked (so checkpoints hold it) but not trainable; only `segmenter` is deployed.

    Args:
        ema_decay: teacher weight decay per step (0.99).
        rampup_steps: consistency weight ramp-up (default 200 steps here).
        (others: see SemiSupervisedMethod)
    """

    part_names = ("loss_sup", "loss_unsup")

    def __init__(self, segmenter, ema_decay: float = 0.99, rampup_steps: int = 200, **kwargs):
        super().__init__(segmenter, rampup_steps=rampup_steps, **kwargs)
        self.ema_decay = float(ema_decay)
        self.teacher = clone_segmenter(segmenter, "teacher", copy_weights=True)
        self.teacher.trainable = False
        self.strong_augment = StrongAugment(seed=self.seed + 1)

    def loss_parts(self, images, masks, unlabeled):
        student_inputs = tf.concat([images, self.strong_augment(unlabeled)], axis=0)
        logits = self.segmenter(student_inputs, training=True)
        n_labeled = tf.shape(images)[0]
        teacher = tf.nn.softmax(tf.stop_gradient(self.teacher(unlabeled, training=False)))
        student = tf.nn.softmax(logits[n_labeled:])
        parts = {"loss_sup": self.supervised_loss(images, masks, logits[:n_labeled]),
                 "loss_unsup": global_mean(tf.reduce_sum(tf.square(student - teacher), axis=-1))}
        return parts, (student_inputs, logits)

    def after_update(self):
        """teacher <- d * teacher + (1 - d) * student, d = min(ema_decay, 1 - 1 / (step + 1))."""
        step = tf.cast(self.optimizer.iterations, tf.float32)
        decay = tf.minimum(self.ema_decay, 1.0 - 1.0 / (step + 1.0))
        for teacher, student in zip(self.teacher.weights, self.segmenter.weights):
            teacher.assign(decay * teacher + (1.0 - decay) * tf.cast(student, teacher.dtype))

    def method_config(self) -> dict:
        return {**super().method_config(), "ema_decay": self.ema_decay}
