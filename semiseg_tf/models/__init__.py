"""Models: encoders (feature pyramids) and segmenters (encoder + decoder + head), by name.

The presets (`PRESETS`, `model_config`) are plain data; the Keras classes load on first use, so the
command line lists the presets without importing TensorFlow. `register()` imports every model module,
which registers the serializable classes a saved model names.
"""

import importlib

from semiseg_tf.models.registry import PRESETS, build_from_config, build_model, model_config

_LAZY = {"BACKBONES": "applications", "ApplicationEncoder": "applications", "DeepLabV3Plus": "deeplabv3plus",
         "Encoder": "encoders", "ResNetEncoder": "encoders", "UNetEncoder": "encoders", "build_encoder": "encoders",
         "ResizeLike": "layers", "Segmenter": "segmenter", "UNet": "unet"}


def register() -> None:
    """Import every model module: Keras can then deserialize any of our layers and models."""
    for module in sorted(set(_LAZY.values())):
        importlib.import_module(f"semiseg_tf.models.{module}")


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"semiseg_tf.models.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'semiseg_tf.models' has no attribute '{name}'")


__all__ = [
    "BACKBONES", "ApplicationEncoder", "DeepLabV3Plus", "Encoder", "PRESETS", "ResNetEncoder", "ResizeLike",
    "Segmenter", "UNet", "UNetEncoder", "build_encoder", "build_from_config", "build_model", "model_config",
    "register",
]
