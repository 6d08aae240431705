"""Architectures and presets by name: `build_model("deeplabv3plus", num_classes=11)`."""

from __future__ import annotations

import copy
import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from semiseg_tf.models.segmenter import Segmenter

# architecture -> (module in semiseg_tf.models, class), imported when a model is built
ARCHITECTURES = {"deeplabv3plus": ("deeplabv3plus", "DeepLabV3Plus"), "unet": ("unet", "UNet")}

# Named configs. The default of each architecture is the compact one we benchmark on CPU;
# "-tiny" variants exist for tests and the demo.
PRESETS = {
    "deeplabv3plus": {
        "architecture": "deeplabv3plus",
        "encoder": {"type": "resnet", "widths": [32, 64, 128, 256], "depths": [2, 2, 2, 2],
                    "stem_width": 32, "output_stride": 16},
        # Rates scaled to the ~15x20 stride-16 maps of 240x320 inputs (the paper's 6/12/18 suit 33x33).
        # 64 decoder channels: the stride-4 decoder dominates the FLOPs; 128 was 1.25x slower (bench).
        "aspp_filters": 128, "aspp_rates": [3, 6, 9], "decoder_filters": 64,
    },
    "deeplabv3plus-tiny": {
        "architecture": "deeplabv3plus",
        "encoder": {"type": "resnet", "widths": [16, 24, 32, 48], "depths": [1, 1, 1, 1],
                    "stem_width": 16, "output_stride": 16},
        "aspp_filters": 32, "aspp_rates": [2, 4, 6], "low_level_filters": 16, "decoder_filters": 32,
    },
    # keras.applications encoders (output stride 32; pretrained with `encoder={"weights": "imagenet" or PATH}`;
    # normalisation: the encoder's own). ASPP rates 2/4/6: the stride-32 map of a 240x320 image is 8x10, and a
    # rate-r 3x3 spans 2r+1 cells, so the branches see neighbours, half and all of the map. The paper's 6/12/18
    # suit 33x33 stride-16 maps of 513 crops; rates beyond the map see only padding (a 1x1 in disguise).
    # ASPP 256 wide on ResNet50 (the paper's), 128 on the light encoders (whose decoder would otherwise outweigh
    # them); stride-4 decoder 128 wide, 64 for MobileNetV3.
    "deeplabv3plus-resnet50": {
        "architecture": "deeplabv3plus", "encoder": {"type": "resnet50", "weights": None},
        "aspp_filters": 256, "aspp_rates": [2, 4, 6], "decoder_filters": 128,
    },
    "deeplabv3plus-mobilenetv3": {
        "architecture": "deeplabv3plus", "encoder": {"type": "mobilenetv3", "weights": None},
        "aspp_filters": 128, "aspp_rates": [2, 4, 6], "low_level_filters": 32, "decoder_filters": 64,
    },
    "deeplabv3plus-efficientnetv2b0": {
        "architecture": "deeplabv3plus", "encoder": {"type": "efficientnetv2b0", "weights": None},
        "aspp_filters": 128, "aspp_rates": [2, 4, 6], "decoder_filters": 128,
    },
    "unet": {"architecture": "unet", "encoder": {"type": "unet", "base_width": 24, "depth": 4}},
    "unet-tiny": {"architecture": "unet", "encoder": {"type": "unet", "base_width": 8, "depth": 3}},
}


def model_config(name: str, **overrides) -> dict:
    """The full config of a preset with overrides applied (what a run stores)."""
    if name not in PRESETS:
        raise ValueError(f"unknown model '{name}'; valid: {sorted(PRESETS)}")
    config = copy.deepcopy(PRESETS[name])
    for key, value in overrides.items():
        if key == "encoder":
            config["encoder"].update(value)
        else:
            config[key] = value
    return config


def build_from_config(config: dict) -> "Segmenter":
    """Build a model from a `model_config` dict (needs `num_classes`)."""
    config = copy.deepcopy(config)
    architecture = config.pop("architecture")
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture '{architecture}'; valid: {sorted(ARCHITECTURES)}")
    module, cls = ARCHITECTURES[architecture]
    return getattr(importlib.import_module(f"semiseg_tf.models.{module}"), cls)(**config, name=architecture)


def build_model(name: str, num_classes: int, **overrides) -> "Segmenter":
    return build_from_config(model_config(name, num_classes=num_classes, **overrides))
