"""Annotations by kind, beyond dense masks: points, boxes and image-level tags, with their readers.

Each reader returns {stem: [...]} checked against a dataset (classes, image sizes) and raises `DataError`
naming the file, the line / entry / object, and the fix. Sparse masks (scribbles, points, coarse) are
ordinary masks with 255 = unlabeled and need no reader of their own.
"""

from semiseg_tf.data.annotations._common import AnnotationContext
from semiseg_tf.data.annotations.boxes import Box, read_boxes, write_boxes_csv
from semiseg_tf.data.annotations.points import Point, rasterize_points, read_points, write_points_csv
from semiseg_tf.data.annotations.tags import read_tags, write_tags_csv

__all__ = [
    "AnnotationContext", "Box", "Point", "rasterize_points", "read_boxes", "read_points", "read_tags",
    "write_boxes_csv", "write_points_csv", "write_tags_csv",
]
