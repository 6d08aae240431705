"""Training methods: each is a small keras.Model subclass that overrides train_step."""

from semiseg_tf.methods.base import SegmentationMethod

METHODS = {"supervised": SegmentationMethod}


def get_method(name: str) -> type[SegmentationMethod]:
    if name not in METHODS:
        raise ValueError(f"unknown method '{name}'; valid: {sorted(METHODS)}")
    return METHODS[name]


__all__ = ["METHODS", "SegmentationMethod", "get_method"]
