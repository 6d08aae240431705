"""Everything a training run depends on, stored as `config.json` in the run directory."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from semiseg_tf.data.augment import AugmentConfig


@dataclass
class TrainConfig:
    """Options of `semiseg-tf train`; a resumed run reloads them from its run directory.

    Sizes are (height, width). `train_size` is the resolution images are brought to
    before random scaling; `crop_size` is what the network sees (default: train_size).
    """

    data: str = "builtin:shapes"
    model: str = "deeplabv3plus"
    model_overrides: dict = field(default_factory=dict)
    method: str = "supervised"
    method_options: dict = field(default_factory=dict)
    labeled_fraction: float | None = None
    labeled_list: str | None = None
    unlabeled: str | None = None  # folder of extra unlabeled images (semi-supervised methods)
    unlabeled_ratio: int = 1  # unlabeled images per labeled image in a step
    extra_labels: str | None = None  # folder of pseudo-label masks named like the images (data distillation)
    extra_labels_share: float | None = None  # share of each batch drawn from extra_labels (None: uniform over all)
    init_from: str | None = None  # run directory, .keras file or zoo name whose weights start the model
    train_split: str = "train"
    val_split: str | None = "val"
    steps: int = 1000
    batch_size: int = 8
    train_size: tuple[int, int] | None = None
    crop_size: tuple[int, int] | None = None
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    schedule: str = "poly"
    warmup_steps: int = 0
    class_weighting: str = "sqrt-median-frequency"
    checkpoint_every: int = 100
    seed: int = 0
    jit_compile: str = "false"  # XLA measured slower on 2-core CPU (bench/train_speed.py)
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["augment"] = self.augment.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown training options {unknown}; valid: {sorted(known)}")
        data = dict(data)
        augment = data.pop("augment", None) or {}
        augment = AugmentConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in augment.items()})
        for key in ("train_size", "crop_size"):
            if data.get(key) is not None:
                data[key] = tuple(data[key])
        return cls(**data, augment=augment)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, path: str | Path) -> "TrainConfig":
        return cls.from_dict(json.loads(Path(path).read_text()))
