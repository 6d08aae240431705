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

With the image given, GrabCut (Rother et al., SIGGRAPH 2004; OpenCV's `grabCut`, as SDI's "GrabCut+"
labels) first segments each box against a band around it: where it calls a pixel of the box background
and another class's box covers that pixel too, the box's class is ruled out there. The exact pixels (one
class's boxes only) seed GrabCut as sure foreground and are never changed.
"""

from __future__ import annotations

import math
from typing import Sequence

import cv2
import numpy as np

from semiseg_tf.data.annotations import Box

INNER_SHARE = 0.5  # the share of a box whose guess is kept where boxes of several classes overlap
GRABCUT_SIDE = 160  # GrabCut runs on the box and its band downscaled to at most this side (speed)


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


def grabcut_rule_out(image: np.ndarray, boxes: Sequence[Box], candidates: np.ndarray, band: float = 0.1,
                     iterations: int = 5) -> np.ndarray:
    """Rule a box's class out of the pixels of the box that GrabCut calls background, where another class
    stays possible (in place; returns `candidates`). Each box is segmented within itself plus a band of
    `band` of its size (at least 4 px) as sure background; boxes that leave no background are skipped."""
    height, width = candidates.shape[:2]
    cv2.setRNGSeed(0)  # GrabCut's GMMs start from k-means++: the same labels on every run
    for box in boxes:
        mx, my = max(4, int(band * (box.x1 - box.x0 + 1))), max(4, int(band * (box.y1 - box.y0 + 1)))
        y0, x0 = max(0, box.y0 - my), max(0, box.x0 - mx)
        y1, x1 = min(height, box.y1 + my + 1), min(width, box.x1 + mx + 1)
        region = candidates[y0:y1, x0:x1]
        mask = np.full(region.shape[:2], cv2.GC_BGD, np.uint8)
        mask[box.y0 - y0:box.y1 - y0 + 1, box.x0 - x0:box.x1 - x0 + 1] = cv2.GC_PR_FGD
        mask[region[..., box.class_id] & (region.sum(-1) == 1)] = cv2.GC_FGD
        scale = min(1.0, GRABCUT_SIDE / max(mask.shape))
        crop, small = np.ascontiguousarray(image[y0:y1, x0:x1]), mask
        if scale < 1:
            crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            small = cv2.resize(mask, crop.shape[1::-1], interpolation=cv2.INTER_NEAREST)
        if (small == cv2.GC_BGD).sum() < 16 or (small == cv2.GC_BGD).all():
            continue
        cv2.grabCut(crop, small, None, np.zeros((1, 65)), np.zeros((1, 65)), iterations, cv2.GC_INIT_WITH_MASK)
        if scale < 1:
            small = cv2.resize(small, mask.shape[::-1], interpolation=cv2.INTER_NEAREST)
        background = (small == cv2.GC_BGD) | (small == cv2.GC_PR_BGD)
        region[..., box.class_id] &= ~(background & region[..., box.class_id] & (region.sum(-1) > 1))
    return candidates


def box_label_map(boxes: Sequence[Box], size: tuple[int, int], num_classes: int, inner_share: float = INNER_SHARE,
                  ignore_index: int = 255, image: np.ndarray | None = None) -> np.ndarray:
    """uint8 label map: the class of pixels under boxes of one class; under boxes of several classes the
    smallest box's class, within its centred `inner_share`; `ignore_index` elsewhere. With `image`,
    GrabCut first rules classes out of the pixels it segments as another box's background."""
    if not 0 < inner_share <= 1:
        raise ValueError(f"inner_share {inner_share}: must be in (0, 1].")
    candidates = box_candidates(boxes, size, num_classes)
    if image is not None:
        grabcut_rule_out(image, boxes, candidates)
    on_top = np.full(size, ignore_index, np.uint8)
    in_core = np.zeros(size, bool)
    for box in sorted(boxes, key=lambda b: b.area, reverse=True):  # the smallest is painted last, on top
        possible = candidates[box.y0:box.y1 + 1, box.x0:box.x1 + 1, box.class_id]
        on_top[box.y0:box.y1 + 1, box.x0:box.x1 + 1][possible] = box.class_id
        in_core[box.y0:box.y1 + 1, box.x0:box.x1 + 1][possible] = False
        x0, y0, x1, y1 = inner_box(box, inner_share)
        in_core[y0:y1 + 1, x0:x1 + 1] |= candidates[y0:y1 + 1, x0:x1 + 1, box.class_id]
    count = candidates.sum(-1)
    labels = np.where(count == 1, candidates.argmax(-1), ignore_index)
    return np.where((count > 1) & in_core, on_top, labels).astype(np.uint8)
