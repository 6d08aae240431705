"""DeepLabV3+ (Chen et al., ECCV 2018): atrous spatial pyramid pooling + low-level skip decoder."""

from __future__ import annotations

import keras

from semiseg_tf.models.layers import PACKAGE, ResizeLike, conv_bn_relu
from semiseg_tf.models.segmenter import Segmenter


def aspp(x, filters: int, rates, dropout: float, name: str = "aspp"):
    """Parallel 1x1, atrous 3x3 branches and image pooling, fused by a 1x1 conv."""
    branches = [conv_bn_relu(x, filters, 1, name=f"{name}_1x1")]
    for rate in rates:
        branches.append(conv_bn_relu(x, filters, 3, dilation_rate=rate, name=f"{name}_r{rate}"))
    pooled = keras.layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_pool")(x)
    pooled = conv_bn_relu(pooled, filters, 1, name=f"{name}_pool_proj")
    branches.append(ResizeLike(name=f"{name}_pool_up")(pooled, x))
    y = keras.layers.Concatenate(name=f"{name}_concat")(branches)
    y = conv_bn_relu(y, filters, 1, name=f"{name}_fuse")
    return keras.layers.Dropout(dropout, name=f"{name}_dropout")(y) if dropout else y


@keras.saving.register_keras_serializable(package=PACKAGE)
class DeepLabV3Plus(Segmenter):
    """DeepLabV3+ on any pyramid encoder.

    Args:
        encoder: an Encoder, or its config (`{"type": "resnet", ...}`); output stride 16 (32 for the
            keras.applications encoders, with smaller ASPP rates).
        num_classes: number of output classes.
        aspp_filters / aspp_rates / aspp_dropout: the atrous pyramid on the deepest features.
        low_level: pyramid level of the skip connection (stride 4 = "P2").
        low_level_filters: channels the skip is projected to (48 in the paper).
        decoder_filters: channels of the two 3x3 decoder convolutions.
        mean / std: input normalisation baked into the graph; default: the encoder's (what its weights expect).
    """

    def __init__(self, encoder, num_classes: int, aspp_filters: int = 128, aspp_rates=(6, 12, 18),
                 aspp_dropout: float = 0.1, low_level: str = "P2", low_level_filters: int = 48,
                 decoder_filters: int = 128, mean=None, std=None, **kwargs):
        # === Layers and functional model ===
        inputs, encoder, pyramid, normalization = self.make_inputs(encoder, mean, std)
        deepest = pyramid[max(pyramid)]
        x = aspp(deepest, aspp_filters, aspp_rates, aspp_dropout)
        skip = conv_bn_relu(pyramid[low_level], low_level_filters, 1, name="skip_proj")
        x = ResizeLike(name="decoder_up")(x, skip)
        x = keras.layers.Concatenate(name="decoder_concat")([x, skip])
        x = conv_bn_relu(x, decoder_filters, 3, name="decoder1")
        x = conv_bn_relu(x, decoder_filters, 3, name="decoder2")
        x = keras.layers.Conv2D(num_classes, 1, name="classifier")(x)
        logits = ResizeLike(name="logits_up")(x, inputs)
        logits = keras.layers.Activation("linear", dtype="float32", name="logits")(logits)
        # === Config ===
        config = dict(num_classes=num_classes, aspp_filters=aspp_filters, aspp_rates=list(aspp_rates),
                      aspp_dropout=aspp_dropout, low_level=low_level,
                      low_level_filters=low_level_filters, decoder_filters=decoder_filters,
                      **normalization)
        super().__init__(inputs, logits, encoder, config, features=pyramid, **kwargs)
