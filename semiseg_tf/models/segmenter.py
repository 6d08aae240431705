"""Base class of segmentation models: normalisation + encoder + decoder + head.

A segmenter is a functional Keras model built from a config dict (keras-hub style):
`get_config` returns the constructor arguments with the encoder serialised, and
`from_config` rebuilds it, so `.keras` files and zoo entries round-trip. The encoder
is a nested model named "encoder", whose weights can be saved and loaded alone.
"""

from __future__ import annotations

import keras

from semiseg_tf.models.encoders import Encoder, build_encoder
from semiseg_tf.models.layers import input_normalization


class Segmenter(keras.Model):
    """Maps RGB pixels in [0, 255] (N, H, W, 3) to per-pixel class logits (N, H, W, C)."""

    def __init__(self, inputs, logits, encoder: Encoder, config: dict, features=(), **kwargs):
        super().__init__(inputs=inputs, outputs=logits, **kwargs)
        self.encoder = encoder
        self._segmenter_config = config
        self._encoder_features = tuple(keras.tree.flatten(features))

    @property
    def encoder_features(self) -> tuple:
        """The encoder's pyramid (flattened) as tensors of this model's graph, to cut it at the encoder (UniMatch)."""
        return self._encoder_features

    @staticmethod
    def make_inputs(encoder: Encoder | dict, mean=None, std=None):
        """The shared front: input tensor, encoder instance, its pyramid on normalised pixels, and the
        normalisation used ({"mean", "std"}, for the config): the encoder's own unless `mean`/`std` are given."""
        if isinstance(encoder, dict):  # a short config {"type": ...} or a serialised encoder
            is_short = "type" in encoder
            encoder = build_encoder(encoder) if is_short else keras.saving.deserialize_keras_object(encoder)
        normalization = {"mean": list(encoder.normalization["mean"] if mean is None else mean),
                         "std": list(encoder.normalization["std"] if std is None else std)}
        inputs = keras.Input((None, None, 3), name="image")
        pyramid = encoder(input_normalization(inputs, **normalization))
        return inputs, encoder, pyramid, normalization

    @property
    def num_classes(self) -> int:
        return self._segmenter_config["num_classes"]

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            **self._segmenter_config,
            "encoder": keras.saving.serialize_keras_object(self.encoder),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["encoder"] = keras.saving.deserialize_keras_object(config["encoder"])
        return cls(**config)
