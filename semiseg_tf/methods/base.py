"""The training wrapper every method subclasses: a segmenter plus how to train it.

Inference, evaluation and export use `method.segmenter` alone, so what a method adds
(teachers, second networks, perturbation heads) never leaks into deployed models.
"""

from __future__ import annotations

import inspect

import keras

from semiseg_tf.models.layers import PACKAGE


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
        valid = cls.option_names()
        unknown = sorted(set(options) - valid)
        if unknown:
            raise ValueError(f"unknown options {unknown} for method {cls.__name__}; valid: {sorted(valid)}")
        if run_steps:
            options = {**options, **{name: run_steps for name in cls.run_length_options if not options.get(name)}}
        if seed is not None and "seed" in valid:
            options = {"seed": seed, **options}
        return cls(segmenter, **options)

    @classmethod
    def option_names(cls) -> set[str]:
        """Constructor options, including those an `__init__` forwards to its bases through **kwargs."""
        names = set()
        for klass in cls.__mro__:
            if "__init__" not in vars(klass):
                continue
            parameters = inspect.signature(klass.__init__).parameters.values()
            names |= {p.name for p in parameters if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
            if klass is SegmentationMethod or all(p.kind != p.VAR_KEYWORD for p in parameters):
                break
        return names - {"self", "segmenter"}

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
