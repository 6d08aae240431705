"""Encoders: functional Keras models that map normalised images to a feature pyramid.

Every encoder returns a dict `{"P1": stride 2, ..., "P5": stride 32}` (keys present
depend on the encoder) and exposes `pyramid_channels` and `output_stride`, so
decoders, self-supervised pretraining heads and CAM pooling all plug into the same
features, and pretrained encoder weights load alone by layer name. It also owns its
preprocessing (`normalization`: the pixels its weights expect), which segmenters bake
into their graph unless their config says otherwise.
"""

from __future__ import annotations

import keras

from semiseg_tf.models.layers import PACKAGE, conv_bn_relu


class Encoder(keras.Model):
    """Base for functional encoders: stores the constructor config and pyramid metadata."""

    def __init__(self, inputs, pyramid: dict, config: dict, **kwargs):
        super().__init__(inputs=inputs, outputs=pyramid, **kwargs)
        self._encoder_config = config
        self.pyramid_channels = {k: int(v.shape[-1]) for k, v in pyramid.items()}

    @property
    def normalization(self) -> dict:
        """The pixels this encoder expects, `(x - mean) / std` of [0, 255] RGB: [-1, 1] for ours."""
        return {"mean": [127.5] * 3, "std": [127.5] * 3}

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable, **self._encoder_config}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _basic_block(x, filters: int, strides: int, dilation: int, name: str):
    shortcut = x
    y = conv_bn_relu(x, filters, 3, strides=strides, dilation_rate=dilation, name=f"{name}_a")
    y = conv_bn_relu(y, filters, 3, dilation_rate=dilation, name=f"{name}_b", activation=None)
    if strides != 1 or x.shape[-1] != filters:
        shortcut = conv_bn_relu(x, filters, 1, strides=strides, name=f"{name}_proj", activation=None)
    y = keras.layers.Add(name=f"{name}_add")([y, shortcut])
    return keras.layers.Activation("relu", name=f"{name}_out")(y)


@keras.saving.register_keras_serializable(package=PACKAGE)
class ResNetEncoder(Encoder):
    """A compact ResNet (basic blocks) with optional dilation for output stride 16 or 8.

    Args:
        widths: channels of the four stages (strides 4, 8, 16, 32).
        depths: basic blocks per stage.
        stem_width: channels of the two stride-2 stem convolutions.
        output_stride: 32, 16 or 8; later stages trade stride for dilation (DeepLabV3).
    """

    def __init__(self, widths=(32, 64, 128, 256), depths=(2, 2, 2, 2), stem_width: int = 32,
                 output_stride: int = 32, input_channels: int = 3, **kwargs):
        if output_stride not in (8, 16, 32):
            raise ValueError(f"output_stride must be 8, 16 or 32, got {output_stride}")
        inputs = keras.Input((None, None, input_channels), name="encoder_input")
        x = conv_bn_relu(inputs, stem_width // 2, 3, strides=2, name="stem1")
        x = conv_bn_relu(x, stem_width, 3, name="stem2")
        pyramid = {"P1": x}
        stride, dilation = 2, 1
        for stage, (width, depth) in enumerate(zip(widths, depths), start=2):
            strides = 2
            if stride * 2 > output_stride:
                strides, dilation = 1, dilation * 2
            else:
                stride *= 2
            for block in range(depth):
                x = _basic_block(x, width, strides if block == 0 else 1,
                                 dilation if block > 0 or strides == 1 else 1,
                                 name=f"stage{stage}_block{block}")
            pyramid[f"P{stage}"] = x
        config = dict(widths=list(widths), depths=list(depths), stem_width=stem_width,
                      output_stride=output_stride, input_channels=input_channels)
        super().__init__(inputs, pyramid, config, **kwargs)
        self.output_stride = output_stride


@keras.saving.register_keras_serializable(package=PACKAGE)
class UNetEncoder(Encoder):
    """The contracting path of U-Net: double 3x3 convs, max-pool between levels.

    Args:
        base_width: channels at full resolution; doubled at every level.
        depth: number of down-sampling steps (pyramid P0..P{depth}).
    """

    def __init__(self, base_width: int = 32, depth: int = 4, input_channels: int = 3, **kwargs):
        inputs = keras.Input((None, None, input_channels), name="encoder_input")
        x, pyramid = inputs, {}
        for level in range(depth + 1):
            if level:
                x = keras.layers.MaxPooling2D(2, padding="same", name=f"down{level}_pool")(x)
            width = base_width * 2**level
            x = conv_bn_relu(x, width, name=f"down{level}_a")
            x = conv_bn_relu(x, width, name=f"down{level}_b")
            pyramid[f"P{level}"] = x
        config = dict(base_width=base_width, depth=depth, input_channels=input_channels)
        super().__init__(inputs, pyramid, config, **kwargs)
        self.output_stride = 2**depth


def _application(backbone: str):
    """A keras.applications encoder (applications.py builds on `Encoder`, so it is imported on use)."""

    def build(**kwargs) -> Encoder:
        from semiseg_tf.models.applications import ApplicationEncoder

        return ApplicationEncoder(backbone=backbone, **kwargs)

    return build


# `type` -> encoder. keras.applications ones take `weights`: None, "imagenet" or a local file
# (applications.BACKBONES names the layers that form their pyramids).
ENCODERS = {"resnet": ResNetEncoder, "unet": UNetEncoder,
            **{name: _application(name) for name in ("resnet50", "mobilenetv3", "efficientnetv2b0")}}


def build_encoder(config: dict) -> Encoder:
    """Build an encoder from `{"type": "resnet", ...kwargs}` (or `{"type": "resnet50", "weights": PATH}`)."""
    config = dict(config)
    kind = config.pop("type")
    if kind not in ENCODERS:
        raise ValueError(f"unknown encoder type '{kind}'; valid: {sorted(ENCODERS)}")
    return ENCODERS[kind](name="encoder", **config)
