"""Data in: dataset layout, readers with clear errors, label budgets, tf.data pipelines."""

from semiseg_tf.data.augment import AugmentConfig
from semiseg_tf.data.budget import select_labeled
from semiseg_tf.data.classes import ClassInfo
from semiseg_tf.data.dataset import Sample, SegmentationDataset, find_images, unlabeled_samples
from semiseg_tf.data.errors import DataError
from semiseg_tf.data.imageio import read_image, read_mask, write_png
from semiseg_tf.data.pipeline import eval_dataset, train_dataset
from semiseg_tf.data.synthetic import make_shapes_dataset, resolve_data

__all__ = [
    "AugmentConfig", "ClassInfo", "DataError", "Sample", "SegmentationDataset", "eval_dataset",
    "find_images", "make_shapes_dataset", "read_image", "read_mask", "resolve_data",
    "select_labeled", "train_dataset", "unlabeled_samples", "write_png",
]
