"""Training methods: each is a small keras.Model subclass that overrides train_step or its loss.

Modules load on first use (`METHODS[name]`, `get_method`, or a class by name), so the command line lists
the method names without importing TensorFlow.
"""

import importlib
from collections.abc import Iterator, Mapping

# --method name -> (module in semiseg_tf.methods, class)
_CLASSES = {"supervised": ("base", "SegmentationMethod"), "fixmatch": ("fixmatch", "FixMatch"),
            "unimatch": ("unimatch", "UniMatch"), "uda": ("uda", "UDA"), "meanteacher": ("meanteacher", "MeanTeacher"),
            "cps": ("cps", "CPS"), "equivariance": ("equivariance", "Equivariance"),
            "copypaste": ("copypaste", "CopyPaste"), "wildcat": ("wildcat", "Wildcat"), "bbtp": ("bbtp", "BBTP")}
_LAZY = {cls: module for module, cls in _CLASSES.values()} | {"SemiSupervisedMethod": "semi"}


class _Methods(Mapping):
    """{name: method class}, each class imported when first looked up."""

    def __getitem__(self, name: str):
        module, cls = _CLASSES[name]
        return getattr(importlib.import_module(f"semiseg_tf.methods.{module}"), cls)

    def __iter__(self) -> Iterator[str]:
        return iter(_CLASSES)

    def __len__(self) -> int:
        return len(_CLASSES)


METHODS = _Methods()


def get_method(name: str):
    if name not in METHODS:
        raise ValueError(f"unknown method '{name}'; valid: {sorted(METHODS)}")
    return METHODS[name]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"semiseg_tf.methods.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'semiseg_tf.methods' has no attribute '{name}'")


__all__ = ["BBTP", "CPS", "METHODS", "CopyPaste", "Equivariance", "FixMatch", "MeanTeacher", "SegmentationMethod",
           "SemiSupervisedMethod", "UDA", "UniMatch", "Wildcat", "get_method"]
