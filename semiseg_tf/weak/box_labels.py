"""Training labels from boxes, after Simple Does It (Khoreva, Benenson, Hosang, Hein & Schiele, CVPR 2017).

A box of class c says: every pixel of this object lies inside, and nothing of class c lies outside every
box of c. With one box per connected region of a class (what `weaken --kind box`, MSRC-21's and PH2's
`boxes.csv` hold), a pixel covered by boxes of a single class is that class, exactly, and a pixel under no
box is unlabeled (void, or a region too small to box). A pixel under boxes of several classes (a car in
the road's box) takes, as in SDI's "Box" labels, the class of the smallest box covering it (objects lie
on top of what is behind them); like SDI's "Box^i", `inner_share` < 1 keeps that guess only in a centred
part of the box with that share of its area and leaves the border band, where boxes hold most of what is
behind the object, unlabeled. Later rounds relabel from a trained model's predictions, restricted to the
classes of the boxes that cover each pixel (`semiseg_tf.weak.constraints`).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from semiseg_tf.data.annotations import Box

INNER_SHARE = 0.5  # the share of a box whose guess is kept where boxes of several classes overlap


def box_candidates(boxes: Sequence[Box], size: tuple[int, int], num_classes: int) -> np.ndarray:
    """(H, W, C) bool: class c is possible at a pixel when a box of c covers it."""
    candidates = np.zeros((*size, num_classes), bool)
    for box in boxes:
        candidates[box.y0:box.y1 + 1, box.x0:box.x1 + 1, box.class_id] = True
    return candidates


def inner_box(box: Box, share: float) -> tuple[int, int, int, int]:
    """The centred part of `box` with `share` of its area (same aspect ratio), as (x0, y0, x1, y1)."""
    scale = math.sqrt(share)
    width, height = box.x1 - box.x0 + 1, box.y1 - box.y0 + 1
    inner_w, inner_h = max(1, round(width * scale)), max(1, round(height * scale))
    x0, y0 = box.x0 + (width - inner_w) // 2, box.y0 + (height - inner_h) // 2
    return x0, y0, x0 + inner_w - 1, y0 + inner_h - 1


def box_label_map(boxes: Sequence[Box], size: tuple[int, int], num_classes: int, inner_share: float = INNER_SHARE,
                  ignore_index: int = 255) -> np.ndarray:
    """uint8 label map: the class of pixels under boxes of one class; under boxes of several classes the
    smallest box's class, within its centred `inner_share`; `ignore_index` elsewhere."""
    if not 0 < inner_share <= 1:
        raise ValueError(f"inner_share {inner_share}: must be in (0, 1].")
    candidates = box_candidates(boxes, size, num_classes)
    on_top = np.full(size, ignore_index, np.uint8)
    in_core = np.zeros(size, bool)
    for box in sorted(boxes, key=lambda b: b.area, reverse=True):  # the smallest is painted last, on top
        on_top[box.y0:box.y1 + 1, box.x0:box.x1 + 1] = box.class_id
        in_core[box.y0:box.y1 + 1, box.x0:box.x1 + 1] = False
        x0, y0, x1, y1 = inner_box(box, inner_share)
        in_core[y0:y1 + 1, x0:x1 + 1] = True
    count = candidates.sum(-1)
    labels = np.where(count == 1, candidates.argmax(-1), ignore_index)
    return np.where((count > 1) & in_core, on_top, labels).astype(np.uint8)
