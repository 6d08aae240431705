"""What every semi-supervised method shares: one `train_step`, pixel losses, ramp-up, equivariance.

A method subclasses `SemiSupervisedMethod` and implements `loss_parts(images, masks,
unlabeled)`, returning its named losses; the shared step adds them up as

    loss = loss_sup + ramp(step) * (unsup_weight * loss_unsup + equivariance_weight * loss_equiv)

applies the gradients to the trainable variables (an EMA teacher is not trainable,
a CPS peer is), then calls `after_update` (where a teacher follows its student).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from semiseg_tf.losses.reduction import global_mean, global_value
from semiseg_tf.methods.base import SegmentationMethod
from semiseg_tf.methods.geometric import parse_transforms


# === Pixel losses ===
def confident_pseudo_labels(logits: tf.Tensor, threshold: float):
    """(argmax labels, confidence, float mask of confidence >= threshold), all without gradient."""
    probabilities = tf.nn.softmax(tf.stop_gradient(tf.cast(logits, tf.float32)))
    confidence = tf.reduce_max(probabilities, axis=-1)
    labels = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
    return labels, confidence, tf.cast(confidence >= threshold, tf.float32)


def pseudo_label_loss(logits: tf.Tensor, labels: tf.Tensor, weight: tf.Tensor | None = None) -> tf.Tensor:
    """Cross-entropy to hard labels, summed over weighted pixels and divided by all pixels (UniMatch),
    as this replica's share of the global batch's value (`semiseg_tf.losses.reduction`)."""
    per_pixel = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, tf.cast(logits, tf.float32))
    return global_mean(per_pixel if weight is None else per_pixel * weight)


def soft_kl(target: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    """Per-pixel KL(target || softmax(logits)) over the class axis."""
    log_q = tf.nn.log_softmax(tf.cast(logits, tf.float32))
    return tf.reduce_sum(target * (tf.math.log(tf.maximum(target, 1e-8)) - log_q), axis=-1)


def equivariance_loss(model, images: tf.Tensor, logits: tf.Tensor, transform, training: bool = True) -> tf.Tensor:
    """Mean KL between T f(x) and f(T x): zero exactly when the model commutes with T on `images`.

    `transform` is a callable on NHWC batches (e.g. `Transform(flip=True).forward`).
    """
    target = transform(tf.nn.softmax(tf.cast(logits, tf.float32)))
    return global_mean(soft_kl(target, model(transform(images), training=training)))


def sigmoid_rampup(step: tf.Tensor, length: int) -> tf.Tensor:
    """exp(-5 (1 - t)^2), t = step / length clipped to [0, 1] (Laine & Aila 2017); 1 when length is 0."""
    if length <= 0:
        return tf.constant(1.0)
    t = tf.clip_by_value(tf.cast(step, tf.float32) / float(length), 0.0, 1.0)
    return tf.exp(-5.0 * tf.square(1.0 - t))


def batchnorm_statistics(model: keras.Model) -> list:
    """The BatchNorm running means and variances of `model` (its non-trainable statistics)."""
    return [v for v in model.non_trainable_variables if v.name in ("moving_mean", "moving_variance")]


def call_keeping_statistics(model: keras.Model, inputs: tf.Tensor) -> tf.Tensor:
    """A training-mode pass (batch statistics, dropout) that leaves BatchNorm's running statistics as
    they were: a strong view then shapes the gradients but not the statistics used at inference."""
    statistics = batchnorm_statistics(model)
    saved = [tf.identity(v.value) for v in statistics]
    outputs = model(inputs, training=True)
    for variable, value in zip(statistics, saved):  # ordered after the pass's own updates (same resources)
        variable.assign(value)
    return outputs


def clone_segmenter(segmenter: keras.Model, name: str, copy_weights: bool) -> keras.Model:
    """A second network of the same architecture: a fresh initialisation, or a weight copy."""
    config = {**segmenter.get_config(), "name": name}
    twin = segmenter.__class__.from_config(config)
    if copy_weights:
        twin.set_weights(segmenter.get_weights())
    return twin


# === The shared step ===
class SemiSupervisedMethod(SegmentationMethod):
    """Base of methods that learn from unlabeled images too (see the module docstring).

    Args:
        unsup_weight: weight of the unsupervised loss (lambda_u).
        rampup_steps: sigmoid ramp-up length of the unlabeled-loss weights, in optimizer steps (0 = none).
        equivariance_weight: weight of the equivariance loss on labeled + unlabeled images (0 = off).
        equivariance_transforms: candidates, one drawn per step: hflip, rot90, rot180, rot270, scale=S.
            "hflip" by default: every natural image stays natural when mirrored, but street scenes,
            people and indoor rooms are not rotation-invariant (on CamVid the rotations cost the small
            classes, see docs/2026-11-25-semi-supervised-camvid-1-8.md); add "rot90,rot180,rot270" for
            aerial, microscopy or medical images.
        unsup_class_weights: weight hard pseudo-label losses by the supervised loss's class weights
            (off in the papers; on CamVid, confident pseudo-labels drift to road and sky, see
            docs/2026-11-25-fixmatch-below-supervised.md).
        strong_bn_stats: let strong-view passes (fixmatch, unimatch, uda) update BatchNorm's running
            statistics (True, as in the papers' code); False keeps them to the labeled + weak-view pass.
        seed: seed of the in-graph randomness (strong views, CutMix boxes, transform draws).
    """

    uses_unlabeled = True
    part_names = ("loss_sup", "loss_unsup", "mask_ratio")

    def __init__(self, segmenter, unsup_weight: float = 1.0, rampup_steps: int = 0,
                 equivariance_weight: float = 0.0, equivariance_transforms: str = "hflip",
                 unsup_class_weights: bool = False, strong_bn_stats: bool = True, seed: int = 0, **kwargs):
        super().__init__(segmenter, **kwargs)
        self.unsup_weight, self.rampup_steps = float(unsup_weight), int(rampup_steps)
        self.unsup_class_weights = bool(unsup_class_weights)
        self.strong_bn_stats = bool(strong_bn_stats)
        self.equivariance_weight = float(equivariance_weight)
        self.equivariance_transforms = equivariance_transforms
        self.transforms = tuple(parse_transforms(equivariance_transforms))
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        names = ["loss", *self.part_names] + (["loss_equiv"] if self.equivariance_weight else [])
        self.trackers = [keras.metrics.Mean(name=name) for name in names]
        if self.crf_tracker is not None:  # updated by compute_loss (the gated CRF term of supervised_loss)
            self.trackers.append(self.crf_tracker)

    @property
    def metrics(self):
        return self.trackers

    def loss_parts(self, images, masks, unlabeled) -> tuple[dict, tuple]:
        """Named losses of one step, and (inputs, logits) of a forward pass with gradient."""
        raise NotImplementedError

    def after_update(self) -> None:
        """Called after the optimizer step (EMA teachers update here)."""

    def strong_forward(self, images):
        """The segmenter on a strong view, updating BatchNorm statistics only if `strong_bn_stats`."""
        if self.strong_bn_stats:
            return self.segmenter(images, training=True)
        return call_keeping_statistics(self.segmenter, images)

    def supervised_loss(self, images, masks, logits):
        """The compiled loss (class weights, ignore index) on the labeled batch."""
        return self.compute_loss(x=images, y=masks, y_pred=logits)

    def pseudo_label_weights(self, labels: tf.Tensor, keep: tf.Tensor) -> tf.Tensor:
        """Per-pixel weights of a hard pseudo-label loss: 1 where `keep` (e.g. confident), else 0;
        times the compiled loss's class weights of each pseudo-label when `unsup_class_weights` is on."""
        weight = tf.cast(keep, tf.float32)
        class_weights = getattr(self.loss, "class_weights", None)
        if self.unsup_class_weights and class_weights is not None:
            weight *= tf.gather(tf.constant(class_weights, tf.float32), labels)
        return weight

    def random_equivariance_loss(self, images, logits):
        """Equivariance loss for one transform drawn from `self.transforms` this step.

        The draw selects only the tensor transform, so the network is traced once.
        """
        index = keras.random.randint((), 0, len(self.transforms), seed=self.seed_generator, dtype="int32")

        def transform(x):
            return tf.switch_case(index, [lambda t=t: t.forward(x) for t in self.transforms])

        return equivariance_loss(self.segmenter, images, logits, transform)

    def train_step(self, data):
        images, masks, unlabeled = data["images"], data["masks"], data["unlabeled"]
        with tf.GradientTape() as tape:
            parts, (inputs, logits) = self.loss_parts(images, masks, unlabeled)
            ramp = sigmoid_rampup(self.optimizer.iterations, self.rampup_steps)
            loss = parts["loss_sup"] + self.unsup_weight * ramp * parts.get("loss_unsup", 0.0)
            if self.equivariance_weight:
                parts["loss_equiv"] = self.random_equivariance_loss(inputs, logits)
                loss += self.equivariance_weight * ramp * parts["loss_equiv"]
            scaled = self.optimizer.scale_loss(loss)  # mixed float16's loss scale (identity otherwise)
        variables = self.trainable_variables
        self.optimizer.apply(tape.gradient(scaled, variables), variables)
        self.after_update()
        values = {"loss": loss, **parts}
        for tracker in self.trackers:  # losses are replica shares (log their global value), ratios means
            if tracker is not self.crf_tracker:
                value = values[tracker.name]
                tracker.update_state(global_value(value) if tracker.name.startswith("loss") else value)
        return {tracker.name: tracker.result() for tracker in self.trackers}

    def method_config(self) -> dict:
        return {**super().method_config(), "unsup_weight": self.unsup_weight, "rampup_steps": self.rampup_steps,
                "equivariance_weight": self.equivariance_weight,
                "equivariance_transforms": self.equivariance_transforms,
                "unsup_class_weights": self.unsup_class_weights, "strong_bn_stats": self.strong_bn_stats,
                "seed": self.seed}
