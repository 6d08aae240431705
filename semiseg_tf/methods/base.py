"""The training wrapper every method subclasses: a segmenter plus how to train it.

Inference, evaluation and export use `method.segmenter` alone, so what a method adds
(teachers, second networks, perturbation heads) never leaks into deployed models.
"""

from __future__ import annotations

import difflib
import inspect
import math

import keras

from semiseg_tf.models.layers import PACKAGE

# Valid ranges of the method options that have one, by name (the same name means the same thing in every method).
OPTION_RANGES = {
    "threshold": (0.0, 1.0), "cutmix_p": (0.0, 1.0), "paste_p": (0.0, 1.0), "ema_decay": (0.0, 1.0),
    "unsup_weight": (0.0, math.inf), "equivariance_weight": (0.0, math.inf), "rampup_steps": (0, math.inf),
    "tsa_steps": (0, math.inf), "temperature": (1e-6, math.inf), "seed": (0, math.inf),
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

    Subclasses override `train_step` (several views, teachers, pseudo-labels) and
    list their hyper-parameters in `method_config()`. A subclass that sets
    `uses_unlabeled = True` receives each step a dict with "images" and "masks" (a
    labeled batch) and "unlabeled" (a batch of unlabeled images, `unlabeled_ratio`
    times larger), all augmented by the pipeline (the "weak" view).
    """

    uses_unlabeled = False
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

    def __init__(self, segmenter: keras.Model, **kwargs):
        super().__init__(**kwargs)
        self.segmenter = segmenter

    def call(self, images, training=False):
        return self.segmenter(images, training=training)

    def method_config(self) -> dict:
        return {}

    def get_config(self):
        return {"name": self.name, "segmenter": keras.saving.serialize_keras_object(self.segmenter),
                **self.method_config()}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["segmenter"] = keras.saving.deserialize_keras_object(config["segmenter"])
        return cls(**config)
