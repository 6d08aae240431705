"""Rotation prediction (Gidaris, Singh & Komodakis, "Unsupervised Representation Learning by Predicting
Image Rotations", ICLR 2018): every image is shown at 0, 90, 180 and 270 degrees in the same batch and
the network names the rotation. Recognising which way is up needs the objects, not low-level cues.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from semiseg_tf.pretraining.images import crop_stream, plain_graph
from semiseg_tf.pretraining.pretext_model import PretextClassifier

ROTATIONS = 4  # label k = rotated by k x 90 degrees counter-clockwise (tf.image.rot90, np.rot90)


def rotate_batch(images: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """(N, S, S, C) square images -> the 4N rotated copies (rotation-major) and their labels (4N,) int32."""
    rotated = tf.concat([tf.image.rot90(images, k) for k in range(ROTATIONS)], axis=0)
    labels = tf.repeat(tf.range(ROTATIONS, dtype=tf.int32), tf.shape(images)[0])
    return rotated, labels


class RotationPretext(PretextClassifier):
    """Encoder -> global average pool -> linear 4-way classifier (a batch of B images is 4B samples)."""

    paper = "Gidaris et al., ICLR 2018 (RotNet)"

    def __init__(self, segmenter, image_size: int = 128, seed: int = 0, **kwargs):
        super().__init__(segmenter, seed=seed, **kwargs)
        self.classifier = keras.layers.Dense(ROTATIONS, name="rotation_classifier")

    def call(self, images, training=False):
        return self.classifier(self.pooled_features(images, training))

    def chance_level(self) -> float:
        return 1.0 / ROTATIONS

    def training_stream(self, samples, config, start_step: int) -> tf.data.Dataset:
        stream = crop_stream(samples, config.batch_size, config.image_size, config.seed, start_step, (0.5, 1.0))
        return stream.map(plain_graph(rotate_batch), num_parallel_calls=tf.data.AUTOTUNE)
