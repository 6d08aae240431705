"""Building blocks shared by encoders and decoders, from Keras core layers only."""

from __future__ import annotations

import keras
import tensorflow as tf

PACKAGE = "semiseg_tf"


@keras.saving.register_keras_serializable(package=PACKAGE)
class ResizeLike(keras.layers.Layer):
    """Bilinearly resize `x` to the spatial size of `reference`.

    Uses `tf.image.resize` with a dynamic target shape: unlike bilinear UpSampling2D
    or `keras.ops.image.resize`, it exports to ONNX with dynamic height and width,
    and it makes any input size work (no divisibility by the output stride needed).
    """

    def __init__(self, interpolation: str = "bilinear", **kwargs):
        super().__init__(**kwargs)
        self.interpolation = interpolation

    def call(self, x, reference):
        return tf.image.resize(x, tf.shape(reference)[1:3], method=self.interpolation)

    def compute_output_shape(self, x_shape, reference_shape):
        return (x_shape[0], reference_shape[1], reference_shape[2], x_shape[3])

    def get_config(self):
        return {**super().get_config(), "interpolation": self.interpolation}


def conv_bn_relu(x, filters: int, kernel_size: int = 3, strides: int = 1, dilation_rate: int = 1,
                 name: str | None = None, activation: str = "relu"):
    """Conv (no bias) + BatchNorm + activation: the unit every block is made of."""
    x = keras.layers.Conv2D(filters, kernel_size, strides=strides, padding="same",
                            dilation_rate=dilation_rate, use_bias=False,
                            name=f"{name}_conv" if name else None)(x)
    x = keras.layers.BatchNormalization(name=f"{name}_bn" if name else None)(x)
    if activation:
        x = keras.layers.Activation(activation, name=f"{name}_act" if name else None)(x)
    return x


def separable_conv_bn_relu(x, filters: int, dilation_rate: int = 1, name: str | None = None):
    """Depthwise 3x3 + BN + ReLU then pointwise 1x1 + BN + ReLU (DeepLabV3+ decoder/ASPP)."""
    x = keras.layers.DepthwiseConv2D(3, padding="same", dilation_rate=dilation_rate,
                                     use_bias=False, name=f"{name}_dw")(x)
    x = keras.layers.BatchNormalization(name=f"{name}_dw_bn")(x)
    x = keras.layers.Activation("relu", name=f"{name}_dw_act")(x)
    return conv_bn_relu(x, filters, 1, name=f"{name}_pw")


def input_normalization(inputs, mean=(127.5, 127.5, 127.5), std=(127.5, 127.5, 127.5)):
    """Normalise [0, 255] RGB inside the graph, so exports take raw pixels."""
    return keras.layers.Normalization(mean=list(mean), variance=[s * s for s in std],
                                      name="input_normalization")(inputs)
