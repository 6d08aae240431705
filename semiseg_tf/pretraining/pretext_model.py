"""The model every pretext task trains: a segmenter's encoder (with the segmenter's own input
normalisation) plus a small task head that is thrown away afterwards.

The encoder is cut out of a segmenter built from a preset, so it sees exactly the pixels it will see
inside that segmenter, and its weights load back into any segmenter of the same preset.
"""

from __future__ import annotations

import inspect

import keras
import tensorflow as tf

from semiseg_tf.losses.reduction import share_of_global_mean


def encoder_backbone(segmenter: keras.Model) -> keras.Model:
    """RGB [0, 255] -> the encoder's pyramid dict, sharing the segmenter's layers (normalisation + encoder).

    Built from the segmenter's graph (`encoder_features`, the pyramid flattened in sorted key order), so
    whatever the segmenter puts before its encoder is kept.
    """
    levels = sorted(segmenter.encoder.pyramid_channels)
    return keras.Model(segmenter.inputs, dict(zip(levels, segmenter.encoder_features)), name="backbone")


def mlp(widths, name: str) -> keras.Sequential:
    """Dense + BatchNorm + ReLU for every width but the last, which is a plain Dense."""
    layers = []
    for i, width in enumerate(widths[:-1]):
        layers += [keras.layers.Dense(width, use_bias=False, name=f"{name}_fc{i}"),
                   keras.layers.BatchNormalization(name=f"{name}_bn{i}"),
                   keras.layers.Activation("relu", name=f"{name}_relu{i}")]
    layers.append(keras.layers.Dense(widths[-1], name=f"{name}_out"))
    return keras.Sequential(layers, name=name)


class PretextModel(keras.Model):
    """Encoder + pretext head. Subclasses build their head, say what they consume (`training_stream`)
    and how their loss is computed (`compute_loss`, Keras 3 form); the encoder is `self.encoder`.

    Args:
        segmenter: a segmenter built from the preset whose encoder is pretrained.
        seed: seed of the task's own random draws.
    """

    paper = ""
    metric_name = "accuracy"  # the pretext metric the card reports

    def __init__(self, segmenter: keras.Model, seed: int = 0, num_images: int | None = None, **kwargs):
        super().__init__(name=kwargs.pop("name", "pretext"), **kwargs)
        self.backbone = encoder_backbone(segmenter)
        self.encoder = segmenter.encoder
        self.deepest = max(segmenter.encoder.pyramid_channels)
        self.seed = int(seed)

    @classmethod
    def option_defaults(cls) -> dict:
        """The task's own options (constructor arguments after `segmenter`, `image_size` and `seed`)."""
        skip = {"self", "segmenter", "image_size", "seed", "num_images", "kwargs"}
        return {p.name: p.default for p in inspect.signature(cls.__init__).parameters.values() if p.name not in skip}

    def pooled_features(self, images, training: bool):
        """Global average of the deepest pyramid level: (N, C)."""
        return tf.reduce_mean(self.backbone(images, training=training)[self.deepest], axis=[1, 2])

    def dummy_inputs(self, image_size: int, batch_size: int = 2):
        """A batch of the right structure, to build every variable before a checkpoint is restored."""
        return tf.zeros((batch_size, image_size, image_size, 3))

    def training_stream(self, samples, config, start_step: int) -> tf.data.Dataset:
        """Batches of what `call` and `compute_loss` consume, from `start_step` on (resumable)."""
        raise NotImplementedError

    def train_steps(self, samples, config, run_dir, start_step: int, fit) -> None:
        """Train from `start_step` to `config.steps` through `fit(make_stream, start_step, steps)` (the runner's
        Keras `fit` with progress, logs and checkpoints); DeepCluster alternates it with clustering."""
        fit(lambda: self.training_stream(samples, config, start_step), start_step, config.steps - start_step)

    def chance_level(self) -> float | None:
        """The pretext metric of a network that guesses (None where it has no simple value)."""
        return None

    def options(self) -> dict:
        """The values of `option_defaults` this model was built with (stored in the run's card)."""
        return {name: getattr(self, name) for name in self.option_defaults()}


class PretextClassifier(PretextModel):
    """A pretext task that is a classification: cross-entropy over the global batch and accuracy."""

    def __init__(self, segmenter, seed: int = 0, **kwargs):
        super().__init__(segmenter, seed=seed, **kwargs)
        self.accuracy_tracker = keras.metrics.Mean(name="accuracy")

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        logits = tf.cast(y_pred, tf.float32)
        labels = tf.cast(tf.reshape(y, [-1]), tf.int32)
        per_sample = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
        correct = tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32), labels), tf.float32)
        self.accuracy_tracker.update_state(tf.reduce_mean(correct))
        return share_of_global_mean(tf.reduce_sum(per_sample), tf.cast(tf.size(labels), tf.float32))
