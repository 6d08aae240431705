"""keras.applications networks as pyramid encoders: ResNet50, MobileNetV3-Large, EfficientNetV2-B0.

smp's rule: an encoder exposes a common pyramid and owns its preprocessing. Each backbone below
names the layers that end its stride-2, 4, 8 and 16 stages (P5, stride 32, is the network's own
output) and the pixels its ImageNet weights expect, which the segmenter bakes into its graph.

`weights`: None (random), "imagenet" (Keras downloads them, only when asked) or the path of a local
copy of the keras.applications weight file (include_top=False; the `.h5` Keras downloads to
~/.keras/models, or a `.weights.h5`). `get_config` records `weights=None`: once built, the weights
live in the model's own saved weights, so loading a `.keras` file, cloning (CPS peers, EMA teachers)
and the zoo never download.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import keras
import tensorflow as tf

from semiseg_tf.models.encoders import Encoder
from semiseg_tf.models.layers import PACKAGE


@dataclass(frozen=True)
class Backbone:
    """What a keras.applications network needs to serve as an encoder.

    Args:
        constructor: its name in `keras.applications`.
        levels: pyramid level -> the layer whose output ends that stride (P5 is the network's output).
        mean / std: the pixels its ImageNet weights expect, as `(x - mean) / std` of [0, 255] RGB.
        bgr: the weights expect BGR (caffe): the encoder reverses the channels before its first conv.
        options: further constructor arguments.
    """

    constructor: str
    levels: dict
    mean: tuple
    std: tuple
    bgr: bool = False
    options: dict = field(default_factory=dict)


IMAGENET_MEAN = tuple(round(255 * m, 3) for m in (0.485, 0.456, 0.406))  # torchvision's, in [0, 255]
IMAGENET_STD = tuple(round(255 * s, 3) for s in (0.229, 0.224, 0.225))

BACKBONES = {
    # keras.applications.resnet.preprocess_input ("caffe"): BGR, ImageNet mean subtracted, no scaling.
    "resnet50": Backbone("ResNet50", {"P1": "conv1_relu", "P2": "conv2_block3_out", "P3": "conv3_block4_out",
                                      "P4": "conv4_block6_out"},
                         mean=(123.68, 116.779, 103.939), std=(1.0, 1.0, 1.0), bgr=True),
    # include_preprocessing=True rescales to [-1, 1] inside the network; our in-graph normalisation does the
    # same, once, and folds into the first conv at ONNX export.
    "mobilenetv3": Backbone("MobileNetV3Large", {"P1": "expanded_conv_add", "P2": "expanded_conv_2_add",
                                                 "P3": "expanded_conv_5_add", "P4": "expanded_conv_11_add"},
                            mean=(127.5, 127.5, 127.5), std=(127.5, 127.5, 127.5),
                            options={"include_preprocessing": False}),
    # B0-B3 preprocessing: [0, 1] then the ImageNet mean and std (torchvision's).
    "efficientnetv2b0": Backbone("EfficientNetV2B0", {"P1": "block1a_project_activation", "P2": "block2b_add",
                                                      "P3": "block3b_add", "P4": "block5e_add"},
                                 mean=IMAGENET_MEAN, std=IMAGENET_STD, options={"include_preprocessing": False}),
}


@keras.saving.register_keras_serializable(package=PACKAGE)
class ReverseChannels(keras.layers.Layer):
    """RGB -> BGR (and back): what caffe-style weights expect, inside the graph."""

    def call(self, x):
        return tf.gather(x, [2, 1, 0], axis=-1)


def weights_file(weights: str | Path, constructor: str) -> Path:
    """The local weight file `weights` names, checked before anything is built."""
    path = Path(weights).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"encoder weights '{weights}' not found: pass None, 'imagenet' or the path of "
                                f"a keras.applications {constructor} weight file (include_top=False, .h5 as "
                                "Keras downloads it or .weights.h5).")
    return path


@keras.saving.register_keras_serializable(package=PACKAGE)
class ApplicationEncoder(Encoder):
    """A keras.applications network (include_top=False) cut into a P1..P5 pyramid, output stride 32.

    Args:
        backbone: one of `BACKBONES`.
        weights: None (random), "imagenet" (downloaded by Keras) or the path of a local weight file.
        output_stride: 32 only (the networks have no dilated variant); the compact "resnet" does 16 and 8.
    """

    def __init__(self, backbone: str = "resnet50", weights: str | None = None, output_stride: int = 32,
                 **kwargs):
        if backbone not in BACKBONES:
            raise ValueError(f"unknown keras.applications backbone '{backbone}'; valid: {sorted(BACKBONES)}")
        if output_stride != 32:
            raise ValueError(f"output_stride {output_stride}: keras.applications encoders have output stride 32 "
                             "only (the compact 'resnet' encoder does 16 and 8).")
        spec = BACKBONES[backbone]
        path = None if weights in (None, "imagenet") else weights_file(weights, spec.constructor)
        # === Layers ===
        inputs = keras.Input((None, None, 3), name="encoder_input")
        x = ReverseChannels(name="rgb_to_bgr")(inputs) if spec.bgr else inputs
        network = getattr(keras.applications, spec.constructor)(
            include_top=False, weights="imagenet" if weights == "imagenet" else None, input_tensor=x,
            **spec.options)
        if path is not None:
            network.load_weights(path)
        # === Functional model ===
        pyramid = {level: network.get_layer(name).output for level, name in spec.levels.items()}
        pyramid["P5"] = network.output
        # === Config === (weights=None: from here on they are the model's own)
        super().__init__(inputs, pyramid, dict(backbone=backbone, weights=None, output_stride=32), **kwargs)
        self.backbone = backbone
        self.output_stride = 32

    @property
    def normalization(self) -> dict:
        spec = BACKBONES[self.backbone]
        return {"mean": list(spec.mean), "std": list(spec.std)}
