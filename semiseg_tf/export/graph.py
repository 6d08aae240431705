"""The deployment graph: raw uint8 pixels in, logits, probabilities or class ids out.

Our segmenters already normalise inside the graph, so the wrapper only casts the
input and appends the head a pipeline wants. Every exporter and the parity check
build the same wrapper, so what is checked is what is shipped.
"""

from __future__ import annotations

import keras
import tensorflow as tf

OUTPUTS = ("logits", "probs", "ids")


class DeploymentModel(keras.Model):
    """uint8 NHWC image -> the segmenter -> logits, softmax probabilities or uint8 class ids.

    Written with plain TensorFlow ops: `keras.ops.argmax` lowers to Bitcast/BitwiseAnd
    (its NaN handling), which tf2onnx cannot convert.
    """

    def __init__(self, segmenter: keras.Model, output: str = "logits", **kwargs):
        super().__init__(name=f"{segmenter.name}_{output}", **kwargs)
        if output not in OUTPUTS:
            raise ValueError(f"unknown output '{output}'; valid: {list(OUTPUTS)}")
        self.segmenter = segmenter
        self.output_kind = output

    def call(self, image):
        logits = self.segmenter(tf.cast(image, tf.float32), training=False)
        if self.output_kind == "probs":
            return tf.nn.softmax(logits, axis=-1)
        if self.output_kind == "ids":
            return tf.cast(tf.argmax(logits, axis=-1), tf.uint8)
        return logits


def deployment_model(model: keras.Model, output: str = "logits",
                     input_size: tuple[int, int] | None = None) -> keras.Model:
    """Wrap `model` to take uint8 NHWC images of `input_size` (None: any size) with a dynamic batch.

    Args:
        output: "logits" (float32 N,H,W,C), "probs" (softmax, float32) or "ids" (uint8 N,H,W argmax).
    """
    wrapper = DeploymentModel(model, output)
    height, width = input_size or (64, 64)
    wrapper(tf.zeros((1, height, width, 3), tf.uint8))  # exporters need a called model
    return wrapper


def input_signature(input_size: tuple[int, int] | None) -> list[tf.TensorSpec]:
    """Dynamic batch; fixed height and width unless `input_size` is None."""
    height, width = input_size or (None, None)
    return [tf.TensorSpec((None, height, width, 3), tf.uint8, name="image")]
