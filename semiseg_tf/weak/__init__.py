"""Weak labels: simulate scribbles, points, coarse masks, boxes and tags from full masks, with an
annotation-time model from published per-kind timings (`cost`)."""

from semiseg_tf.weak.cost import full_mask_seconds, image_seconds
from semiseg_tf.weak.weaken import KINDS, WeakenOptions, weaken

__all__ = ["KINDS", "WeakenOptions", "full_mask_seconds", "image_seconds", "weaken"]
