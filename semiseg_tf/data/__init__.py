"""Data in: dataset layout, readers with clear errors, label budgets, tf.data pipelines.

The TensorFlow-based parts (pipelines, augmentation) load on first use, so readers and
ONNX-only inference do not pay for importing TensorFlow.
"""

import importlib

from semiseg_tf.data.budget import hold_out, select_labeled
from semiseg_tf.data.classes import ClassInfo
from semiseg_tf.data.dataset import Sample, SegmentationDataset, find_images, unlabeled_samples
from semiseg_tf.data.errors import DataError
from semiseg_tf.data.imageio import read_image, read_mask, write_png
from semiseg_tf.data.synthetic import make_shapes_dataset, resolve_data
from semiseg_tf.data.annotations import Box, Point, rasterize_points, read_boxes, read_points, read_tags

_LAZY = {"AugmentConfig": "augment", "eval_dataset": "pipeline", "train_dataset": "pipeline"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"semiseg_tf.data.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'semiseg_tf.data' has no attribute '{name}'")


__all__ = [
    "AugmentConfig", "ClassInfo", "DataError", "Sample", "SegmentationDataset", "eval_dataset",
    "find_images", "hold_out", "make_shapes_dataset", "read_image", "read_mask", "resolve_data",
    "select_labeled", "train_dataset", "unlabeled_samples", "write_png",
]
__all__ += ["Box", "Point", "rasterize_points", "read_boxes", "read_points", "read_tags"]
