"""The training wrapper every method subclasses: a segmenter plus how to train it.

Inference, evaluation and export use `method.segmenter` alone, so what a method adds
(teachers, second networks, perturbation heads) never leaks into deployed models.
"""

from __future__ import annotations

import difflib
import inspect
import math

import keras
import tensorflow as tf

from semiseg_tf.losses.gated_crf import GatedCRFLoss
from semiseg_tf.losses.reduction import global_value
from semiseg_tf.models.layers import PACKAGE

# Valid ranges of the method options that have one, by name (the same name means the same thing in every method).
OPTION_RANGES = {
    "threshold": (0.0, 1.0), "cutmix_p": (0.0, 1.0), "paste_p": (0.0, 1.0), "ema_decay": (0.0, 1.0),
    "unsup_weight": (0.0, math.inf), "equivariance_weight": (0.0, math.inf), "rampup_steps": (0, math.inf),
    "tsa_steps": (0, math.inf), "temperature": (1e-6, math.inf), "seed": (0, math.inf),
    "crf_weight": (0.0, math.inf), "crf_radius": (1, math.inf), "crf_downscale": (1, math.inf),
    "crf_sigma_rgb": (1e-6, math.inf), "crf_sigma_xy": (1e-6, math.inf),
    "kmax": (1e-6, math.inf), "kmin": (1e-6, math.inf), "alpha": (0.0, math.inf), "pool_stride": (1, math.inf),
    "absent_weight": (0.0, math.inf), "tight_weight": (0.0, math.inf), "candidate_weight": (0.0, math.inf),
    "box_pool_stride": (1, math.inf),
}


def typed_option(method: str, name: str, value, default):
    """`value` as the type of the option's default (bool, int, float or str), range-checked by OPTION_RANGES."""
    kind = type(default)
    try:
        if kind is bool:
            if isinstance(value, str) and value.lower() in ("true", "false"):
                value = value.lower() == "true"
            if not isinstance(value, bool):
                raise TypeError
        elif kind is int:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
                raise TypeError
            value = int(value)
        elif kind is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError
            value = float(value)
        elif kind is str:
            value = str(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"--method-option {name}={value}: {method}'s {name} is of type {kind.__name__} "
                         f"(default {default}).") from None
    low, high = OPTION_RANGES.get(name, (-math.inf, math.inf))
    if kind in (int, float) and not (low <= value <= high and math.isfinite(value)):
        valid = f">= {low}" if high == math.inf else f"in [{low}, {high}]"
        raise ValueError(f"--method-option {name}={value}: must be {valid} (default {default}).")
    return value


@keras.saving.register_keras_serializable(package=PACKAGE)
class SegmentationMethod(keras.Model):
    """Plain supervised training: Keras' own `train_step` with the compiled loss.

    Every method may add the gated CRF loss (Obukhov et al. 2019; `semiseg_tf.losses.gated_crf`)
    to its compiled loss: `compute_loss` returns the compiled loss + `crf_weight` x gated CRF on the
    softmax of the predictions and the images, over all pixels, labeled or not, which is what spreads
    sparse labels (scribbles, points, coarse masks; 255 = unlabeled) along image edges; it is logged
    as `loss_crf`. Semi-supervised methods get it through `supervised_loss`.

    Args:
        crf_weight: weight of the gated CRF loss (0 = off; the authors use 0.1).
        crf_radius: window radius, in pixels of the downscaled grid (5).
        crf_downscale: the loss runs on predictions and images average-pooled by this factor (4).
        crf_sigma_rgb: colour bandwidth in [0, 255] pixel units (5.8 = the authors' 0.1 ImageNet std).
        crf_sigma_xy: spatial bandwidth, in pixels of the downscaled grid (6).

    Subclasses override `train_step` (several views, teachers, pseudo-labels) and
    list their hyper-parameters in `method_config()`. A subclass that sets
    `uses_unlabeled = True` receives each step a dict with "images" and "masks" (a
    labeled batch) and "unlabeled" (a batch of unlabeled images, `unlabeled_ratio`
    times larger), all augmented by the pipeline (the "weak" view). A subclass that sets
    `consumes = "tags"` receives (images, multi-hot image tags), one that sets `consumes = "boxes"`
    (images, {"masks": label maps, "boxes": (B, K, 5) padded boxes}); both override `label_loss`.
    """

    uses_unlabeled = False
    consumes = "masks"  # the training target: label maps ("masks"), multi-hot image tags ("tags"), or "boxes"
    run_length_options: tuple[str, ...] = ()  # options whose 0 means "the run's number of steps"

    @classmethod
    def from_options(cls, segmenter: keras.Model, options: dict, run_steps: int | None = None,
                     seed: int | None = None) -> "SegmentationMethod":
        """Build from CLI/config options, rejecting unknown names with the valid ones.

        `run_steps` fills the `run_length_options` left at 0 (so the saved config shows the value used);
        `seed` (the run's) seeds the method's own draws (strong views, CutMix boxes) unless an option
        does, so runs of different seeds do not share them.
        """
        options = cls.checked_options(options)
        if run_steps:
            options = {**options, **{name: run_steps for name in cls.run_length_options if not options.get(name)}}
        if seed is not None and "seed" in cls.option_defaults():
            options = {"seed": seed, **options}
        return cls(segmenter, **options)

    @classmethod
    def checked_options(cls, options: dict) -> dict:
        """`options` typed as their defaults and range-checked; an unknown name gets the closest valid one."""
        defaults = cls.option_defaults()
        for name in options:
            if name not in defaults:
                close = difflib.get_close_matches(name, defaults, n=1)
                hint = f"did you mean '{close[0]}'? " if close else ""
                raise ValueError(f"--method-option {name}: not an option of {cls.__name__}; {hint}"
                                 f"valid: {', '.join(sorted(defaults)) or 'none'}.")
        return {name: typed_option(cls.__name__, name, value, defaults[name]) for name, value in options.items()}

    @classmethod
    def option_defaults(cls) -> dict:
        """Constructor options and their defaults, including those an `__init__` forwards to its bases
        through **kwargs (the most derived default wins)."""
        defaults = {}
        for klass in cls.__mro__:
            if "__init__" not in vars(klass):
                continue
            parameters = inspect.signature(klass.__init__).parameters.values()
            for p in parameters:
                if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) and p.name not in ("self", "segmenter"):
                    defaults.setdefault(p.name, p.default)
            if klass is SegmentationMethod or all(p.kind != p.VAR_KEYWORD for p in parameters):
                break
        return defaults

    def __init__(self, segmenter: keras.Model, crf_weight: float = 0.0, crf_radius: int = 5,
                 crf_downscale: int = 4, crf_sigma_rgb: float = 5.8, crf_sigma_xy: float = 6.0, **kwargs):
        super().__init__(**kwargs)
        self.segmenter = segmenter
        self.crf_weight = float(crf_weight)
        self.crf_loss = GatedCRFLoss(radius=int(crf_radius), downscale=int(crf_downscale),
                                     sigma_rgb=float(crf_sigma_rgb), sigma_xy=float(crf_sigma_xy))
        self.crf_tracker = keras.metrics.Mean(name="loss_crf") if self.crf_weight else None

    def call(self, images, training=False):
        if isinstance(images, dict):  # a semi-supervised batch, on which a distributed `fit` builds the model
            images = images["images"]
        return self.segmenter(images, training=training)

    def build_for_training(self, crop: tuple[int, int]) -> None:
        """Create every variable before `fit` (model, compiled loss, optimizer): a checkpoint can then be
        restored, and a distributed `fit` finds nothing to build from a batch it cannot read as (x, y)."""
        images = tf.zeros((1, *crop, 3))
        logits = self(images)
        if self.consumes == "masks":
            self.compute_loss(x=images, y=tf.zeros((1, *crop)), y_pred=logits, training=False)
        elif self.consumes == "boxes":
            self.compute_loss(x=images, y={"masks": tf.zeros((1, *crop)), "boxes": -tf.ones((1, 1, 5))},
                              y_pred=logits, training=False)
        self.optimizer.build(self.trainable_variables)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """`label_loss`, plus `crf_weight` x the gated CRF loss on softmax(`y_pred`) and images `x`."""
        loss = self.label_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training)
        if not self.crf_weight:
            return loss
        crf = self.crf_loss(tf.nn.softmax(tf.cast(y_pred, tf.float32)), x)
        self.crf_tracker.update_state(global_value(crf))
        return loss + self.crf_weight * crf

    def label_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The loss against this method's target (`consumes`): the compiled masked cross-entropy."""
        return super().compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training)

    def crf_config(self) -> dict:
        """The gated CRF options, listed only when the term is on (a run without it records nothing new)."""
        if not self.crf_weight:
            return {}
        return {"crf_weight": self.crf_weight, "crf_radius": self.crf_loss.radius,
                "crf_downscale": self.crf_loss.downscale, "crf_sigma_rgb": self.crf_loss.sigma_rgb,
                "crf_sigma_xy": self.crf_loss.sigma_xy}

    def method_config(self) -> dict:
        return self.crf_config()

    def get_config(self):
        return {"name": self.name, "segmenter": keras.saving.serialize_keras_object(self.segmenter),
                **self.crf_config(), **self.method_config()}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["segmenter"] = keras.saving.deserialize_keras_object(config["segmenter"])
        return cls(**config)
