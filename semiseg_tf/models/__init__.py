"""Models: encoders (feature pyramids) and segmenters (encoder + decoder + head), by name."""

from semiseg_tf.models.applications import BACKBONES, ApplicationEncoder
from semiseg_tf.models.deeplabv3plus import DeepLabV3Plus
from semiseg_tf.models.encoders import Encoder, ResNetEncoder, UNetEncoder, build_encoder
from semiseg_tf.models.layers import ResizeLike
from semiseg_tf.models.registry import PRESETS, build_from_config, build_model, model_config
from semiseg_tf.models.segmenter import Segmenter
from semiseg_tf.models.unet import UNet

__all__ = [
    "BACKBONES", "ApplicationEncoder", "DeepLabV3Plus", "Encoder", "PRESETS", "ResNetEncoder", "ResizeLike",
    "Segmenter", "UNet", "UNetEncoder", "build_encoder", "build_from_config", "build_model", "model_config",
]
