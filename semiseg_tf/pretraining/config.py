"""Everything a pretraining run depends on, stored in its folder (config.json) so `--resume` needs nothing else."""

from __future__ import annotations

import difflib
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

# --method name -> (module, class) in semiseg_tf.pretraining; imported on use (TensorFlow-free `--help`)
METHODS = {
    "rotation": ("rotation", "RotationPretext"),
    "jigsaw": ("jigsaw", "JigsawPretext"),
    "deepcluster": ("deepcluster", "DeepClusterPretext"),
    "dense": ("detcon", "DetConPretext"),
}

# Ranges of the method options that have one (all options are typed as their defaults).
OPTION_RANGES = {
    "permutations": (2, 5000), "tile_share": (0.3, 1.0), "hidden": (1, 1 << 16), "clusters": (0, 1 << 20),
    "pca_dim": (1, 1 << 16), "epoch_steps": (0, 1 << 31), "masks_per_image": (1, 1024), "max_segments": (1, 1024),
    "temperature": (1e-4, 100.0), "fh_scale": (1e-3, 1e6), "fh_min_area": (0.0, 0.5), "projection_dim": (1, 1 << 16),
}


def is_test_split(split: str) -> bool:
    return split.strip().lower().startswith("test")


def test_split_refusal(split: str) -> str:
    return (f"--split {split}: never pretrain on test images (they would leak into the model later evaluated on "
            "them); use --split train, or --images with a folder of other images.")


@dataclass
class PretrainConfig:
    """Options of `semiseg-tf pretrain`. `image_size` is the side of the square crops the encoder sees
    (jigsaw: the side of the 3x3 puzzle); `batch_size` counts images (rotation shows each at four angles,
    DetCon in two views)."""

    method: str = "rotation"
    images: str | None = None  # folder of unlabeled images
    data: str | None = None  # dataset folder whose `split` images are used (masks never read)
    split: str = "train"
    model: str = "deeplabv3plus"  # the preset whose encoder is pretrained
    method_options: dict = field(default_factory=dict)
    steps: int = 1000
    batch_size: int = 32
    image_size: int = 128
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 0
    checkpoint_every: int = 100
    log_every: int = 10
    bn_recalibration_batches: int = 20  # PreciseBN over plain crops before the encoder is saved
    seed: int = 0
    devices: str = "1"  # "all" or N: data-parallel (MirroredStrategy), as `semiseg-tf train --devices`

    def validate(self) -> None:
        """Refuse values that cannot run, naming the option and what is valid (before anything is written)."""
        from semiseg_tf.models.registry import PRESETS
        from semiseg_tf.training.config import device_count

        if self.method not in METHODS:
            raise ValueError(f"--method {self.method}: unknown; valid: {', '.join(METHODS)}.")
        if self.model not in PRESETS:
            raise ValueError(f"--model {self.model}: unknown preset; valid: {', '.join(sorted(PRESETS))}.")
        if self.images is None and self.data is None:
            raise ValueError("no images: pass --images DIR and/or --data DIR --split train.")
        if self.data is not None and is_test_split(self.split):
            raise ValueError(test_split_refusal(self.split))
        positive = {"steps": self.steps, "batch_size": self.batch_size, "checkpoint_every": self.checkpoint_every,
                    "log_every": self.log_every}
        for name, value in positive.items():
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"--{name.replace('_', '-')} {value}: must be a whole number >= 1.")
        if self.method in ("deepcluster", "dense") and self.batch_size < 2:
            raise ValueError(f"--batch-size {self.batch_size}: {self.method} needs at least 2 images a step.")
        if not isinstance(self.image_size, int) or self.image_size < 32:
            raise ValueError(f"--image-size {self.image_size}: must be a whole number >= 32 (pixels).")
        device_count(self.devices)
        if not self.learning_rate > 0:
            raise ValueError(f"--lr {self.learning_rate}: must be > 0, e.g. 1e-3.")
        if not self.weight_decay >= 0 or not 0 <= self.warmup_steps < self.steps:
            raise ValueError(f"--weight-decay {self.weight_decay} / --warmup-steps {self.warmup_steps}: need "
                             "weight decay >= 0 and 0 <= warm-up steps < --steps.")
        self.method_options = checked_options(self.method, self.method_options)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "PretrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown pretraining options {unknown}; valid: {sorted(known)}")
        return cls(**data)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1))


def method_class(method: str):
    """The PretextModel subclass of a --method name."""
    import importlib

    if method not in METHODS:
        raise ValueError(f"--method {method}: unknown; valid: {', '.join(METHODS)}.")
    module, name = METHODS[method]
    return getattr(importlib.import_module(f"semiseg_tf.pretraining.{module}"), name)


def checked_options(method: str, options: dict) -> dict:
    """Options typed as their defaults and range-checked; an unknown name gets the closest valid one."""
    from semiseg_tf.methods.base import typed_option

    defaults = method_class(method).option_defaults()
    checked = {}
    for name, value in options.items():
        if name not in defaults:
            close = difflib.get_close_matches(name, defaults, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise ValueError(f"--method-option {name}: not an option of {method}; {hint}"
                             f"valid: {', '.join(sorted(defaults)) or 'none'}.")
        value = typed_option(method, name, value, defaults[name])
        low, high = OPTION_RANGES.get(name, (None, None))
        if low is not None and not low <= value <= high:
            raise ValueError(f"--method-option {name}={value}: must be in [{low}, {high}] "
                             f"(default {defaults[name]}).")
        checked[name] = value
    return checked
