"""Everything a training run depends on, stored as `config.json` in the run directory."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from semiseg_tf.data.augment import AugmentConfig


class ConfigError(ValueError):
    """An option value that cannot work; the message names the option, the value and what is valid."""


PRECISION_CHOICES = ("auto", "fp32", "bf16", "fp16")


def device_count(devices: str) -> int | None:
    """The number `--devices` asks for (None for "all"); the one check of its form, for train and pretrain."""
    if devices == "all":
        return None
    if str(devices).isdigit() and int(devices) >= 1:
        return int(devices)
    raise ConfigError(f"--devices {devices}: must be a whole number >= 1 or all.")


@dataclass
class TrainConfig:
    """Options of `semiseg-tf train`; a resumed run reloads them from its run directory.

    Sizes are (height, width). `train_size` is the resolution images are brought to
    before random scaling, or "native" (scale each image around its own size: datasets whose
    images differ in size, large aerial or medical images); `crop_size` is what the network
    sees (default: train_size; 512x512 for native).
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
    annotations: dict = field(default_factory=dict)  # weak labels by kind: {"scribble": DIR, ...}
    superpixel_scale: float | None = None  # grow partial labels to Felzenszwalb superpixels of this scale
    refine_boxes: str | None = None  # "grabcut": GrabCut rules classes out of box labels (weak/box_labels.py)
    extra_labels: str | None = None  # folder of pseudo-label masks named like the images (data distillation)
    extra_labels_share: float | None = None  # share of each batch drawn from extra_labels (None: uniform over all)
    init_from: str | None = None  # run directory, .keras file or zoo name whose weights start the model
    encoder_weights: str | None = None  # `semiseg-tf pretrain` output (or its encoder.weights.h5): starts the encoder
    train_split: str = "train"
    val_split: str | None = "val"  # evaluated at the end; None when the dataset has none
    val_fraction: float | None = None  # instead: hold out this share of the train split (run_dir/heldout.txt)
    steps: int = 1000
    batch_size: int = 8
    train_size: tuple[int, int] | str | None = None  # None: the images' size if they share one, else "native"
    crop_size: tuple[int, int] | None = None
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    schedule: str = "poly"
    warmup_steps: int = 0
    class_weighting: str = "sqrt-median-frequency"
    checkpoint_every: int = 100
    log_every: int = 10  # steps between progress lines, history.csv rows and TensorBoard points
    bn_recalibration_batches: int = 100  # PreciseBN at the end of training (0 = keep the moving averages)
    seed: int = 0
    jit_compile: str = "false"  # XLA measured slower on 2-core CPU (bench/train_speed.py)
    devices: str = "1"  # "all" or N: data-parallel over N devices (MirroredStrategy), the batch split among them
    precision: str = "fp32"  # auto, fp32, bf16 or fp16 (mixed precision; see training/devices.py)
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def validate(self) -> None:
        """Refuse values that cannot train, naming the option and what is valid (before anything is written)."""
        positive = {"steps": self.steps, "batch_size": self.batch_size, "checkpoint_every": self.checkpoint_every,
                    "log_every": self.log_every, "unlabeled_ratio": self.unlabeled_ratio}
        for name, value in positive.items():
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"--{name.replace('_', '-')} {value}: must be a whole number >= 1.")
        if not isinstance(self.bn_recalibration_batches, int) or self.bn_recalibration_batches < 0:
            raise ConfigError(f"--bn-recalibration-batches {self.bn_recalibration_batches}: must be a whole number "
                              ">= 0 (0 keeps the moving averages).")
        if self.superpixel_scale is not None and not self.superpixel_scale > 0:
            raise ConfigError(f"--grow-to-superpixels {self.superpixel_scale}: must be > 0, e.g. 100.")
        if self.refine_boxes not in (None, "grabcut"):
            raise ConfigError(f"--refine-boxes {self.refine_boxes}: valid: grabcut.")
        if self.refine_boxes and "box" not in self.annotations:
            raise ConfigError(f"--refine-boxes {self.refine_boxes} refines boxes: pass --annotations box=DIR "
                              "(boxes.csv).")
        if self.labeled_fraction is not None and not 0 < self.labeled_fraction <= 1:
            raise ConfigError(f"--labeled-fraction {self.labeled_fraction}: must be in (0, 1], e.g. 0.125.")
        self.validate_annotations()
        if self.precision not in PRECISION_CHOICES:
            raise ConfigError(f"--precision {self.precision}: valid: {', '.join(PRECISION_CHOICES)}.")
        device_count(self.devices)
        if self.val_fraction is not None and not 0 < self.val_fraction < 1:
            raise ConfigError(f"--val-fraction {self.val_fraction}: must be in (0, 1), e.g. 0.1.")
        if not self.learning_rate > 0:
            raise ConfigError(f"--lr {self.learning_rate}: must be > 0, e.g. 1e-3.")
        if not self.weight_decay >= 0:
            raise ConfigError(f"--weight-decay {self.weight_decay}: must be >= 0.")
        for name in ("train_size", "crop_size"):
            size = getattr(self, name)
            if size == "native" and name == "train_size":
                continue
            if size is not None and (isinstance(size, str) or len(size) != 2 or min(size) < 1):
                raise ConfigError(f"--{name.replace('_', '-')} {size}: must be HEIGHTxWIDTH with both >= 1.")

    def validate_annotations(self) -> None:
        """Known kinds, and tags exactly when the method trains on tags (`consumes`)."""
        from semiseg_tf.methods import METHODS
        from semiseg_tf.training.samples import ANNOTATION_KINDS

        for kind, folder in self.annotations.items():
            if kind not in ANNOTATION_KINDS:
                raise ConfigError(f"--annotations {kind}={folder}: unknown kind; valid: {', '.join(ANNOTATION_KINDS)}.")
        if self.method not in METHODS:
            return  # refused with the valid names by the method check
        on_tags = METHODS[self.method].consumes == "tags"
        tags = {kind: folder for kind, folder in self.annotations.items() if kind == "tag"}
        if on_tags and (not tags or len(self.annotations) > 1 or self.labeled_fraction or self.labeled_list):
            raise ConfigError(f"--method {self.method} trains on image tags alone: pass --annotations tag=DIR "
                              "(tags.csv) and no masks or other annotations.")
        if METHODS[self.method].consumes == "boxes" and not any(
                (Path(folder) / name).is_file() for kind, folder in self.annotations.items() if kind == "box"
                for name in ("boxes.csv", "boxes.json")):
            raise ConfigError(f"--method {self.method} trains on the boxes themselves: pass --annotations box=DIR "
                              "with DIR/boxes.csv (or boxes.json).")
        if tags and not on_tags and not _has_label_maps(tags["tag"]):
            raise ConfigError(f"--annotations tag={tags['tag']}: image tags train with --method wildcat; for "
                              "another method, first turn them into label maps (`semiseg-tf pseudo-label --tags`).")

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
            if isinstance(data.get(key), list):
                data[key] = tuple(data[key])
        return cls(**data, augment=augment)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, path: str | Path) -> "TrainConfig":
        return cls.from_dict(json.loads(Path(path).read_text()))


def _has_label_maps(folder: str) -> bool:
    """A weak-annotation folder that holds label maps (masks/ or <stem>.png files), not only a file."""
    folder = Path(folder)
    return (folder / "masks").is_dir() or next(folder.glob("*.png"), None) is not None
