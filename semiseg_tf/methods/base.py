"""The training wrapper every method subclasses: a segmenter plus how to train it.

Inference, evaluation and export use `method.segmenter` alone, so what a method adds
(teachers, second networks, perturbation heads) never leaks into deployed models.
"""

from __future__ import annotations

import keras

from semiseg_tf.models.layers import PACKAGE


@keras.saving.register_keras_serializable(package=PACKAGE)
class SegmentationMethod(keras.Model):
    """Plain supervised training: Keras' own `train_step` with the compiled loss.

    Subclasses override `train_step` (several views, teachers, pseudo-labels) and
    list their hyper-parameters in `method_config()`.
    """

    def __init__(self, segmenter: keras.Model, **kwargs):
        super().__init__(**kwargs)
        self.segmenter = segmenter

    def call(self, images, training=False):
        return self.segmenter(images, training=training)

    def method_config(self) -> dict:
        return {}

    def get_config(self):
        return {"name": self.name, "segmenter": keras.saving.serialize_keras_object(self.segmenter),
                **self.method_config()}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["segmenter"] = keras.saving.deserialize_keras_object(config["segmenter"])
        return cls(**config)
