"""What weak labels allow, applied to a model's predictions when they become the next round's labels.

Boxes (Simple Does It's recursive training, Khoreva et al. CVPR 2017): a pixel may only take the class
of a box that covers it ("box enforcing"; pixels under no box are unlabeled), and a box whose predicted
segment fills less than `min_box_fill` of it falls back to the first-round labels ("outlier reset": SDI
resets the box when the segment's IoU with its box is under 50 %; the segment lies inside the box, so that IoU is
the share of the box it fills). SDI's third step, a DenseCRF, is left to the gated CRF loss of training.

Tags: a pixel may only take a class the image is tagged with; an image with one tag is that class
wherever the model sees anything at all.

Partial labels (scribbles, points, coarse masks): every class stays possible, and the drawn pixels keep
their drawn class over the model's (the self-training rounds of ScribbleSup, Lin et al. CVPR 2016, and of
rloss-style training: confident predictions fill in between the strokes, the strokes themselves are
ground truth).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from semiseg_tf.data import read_mask
from semiseg_tf.data.annotations import Box
from semiseg_tf.weak.box_labels import INNER_SHARE, box_candidates, box_label_map


def restrict(probabilities: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Probabilities renormalised over the allowed classes ((H, W, C) or (C,) bool); all zero where
    no class is allowed."""
    kept = probabilities * allowed
    total = kept.sum(-1, keepdims=True)
    return np.divide(kept, total, out=np.zeros_like(kept), where=total > 0)


class BoxConstraint:
    """Box enforcing and outlier reset for the images of `boxes` ({stem: [Box]})."""

    def __init__(self, boxes: Mapping[str, Sequence[Box]], num_classes: int, min_box_fill: float = 0.5,
                 inner_share: float = INNER_SHARE, ignore_index: int = 255):
        self.boxes, self.num_classes = boxes, num_classes
        self.min_box_fill, self.inner_share, self.ignore_index = min_box_fill, inner_share, ignore_index

    def restrict(self, stem: str, probabilities: np.ndarray) -> np.ndarray:
        return restrict(probabilities, box_candidates(self.boxes.get(stem, ()), probabilities.shape[:2],
                                                      self.num_classes))

    def repair(self, stem: str, labels: np.ndarray) -> np.ndarray:
        """`labels` with the window of each under-filled box reset to the first-round label map."""
        boxes = self.boxes.get(stem, ())
        first_round = None
        labels = labels.copy()
        for box in boxes:
            window = (slice(box.y0, box.y1 + 1), slice(box.x0, box.x1 + 1))
            if (labels[window] == box.class_id).mean() >= self.min_box_fill:
                continue
            if first_round is None:
                first_round = box_label_map(boxes, labels.shape, self.num_classes, self.inner_share,
                                            self.ignore_index)
            labels[window] = first_round[window]
        return labels

    def describe(self) -> dict:
        return {"constraint": "boxes", "min_box_fill": self.min_box_fill, "inner_share": self.inner_share}


class TagConstraint:
    """Only the classes an image is tagged with ({stem: class ids}); an untagged image keeps nothing."""

    def __init__(self, tags: Mapping[str, frozenset[int]], num_classes: int):
        self.tags, self.num_classes = tags, num_classes

    def restrict(self, stem: str, probabilities: np.ndarray) -> np.ndarray:
        allowed = np.zeros(self.num_classes, bool)
        allowed[list(self.tags.get(stem, ()))] = True
        return restrict(probabilities, allowed)

    def repair(self, stem: str, labels: np.ndarray) -> np.ndarray:
        return labels

    def describe(self) -> dict:
        return {"constraint": "tags"}


class DrawnLabels:
    """Drawn partial labels (`folder/<stem>.png`, 255 = unlabeled) win over the prediction where they label a
    pixel; images without a label map keep the prediction alone."""

    def __init__(self, folder: str | Path, num_classes: int, ignore_index: int = 255):
        self.folder, self.num_classes, self.ignore_index = Path(folder), num_classes, ignore_index

    def restrict(self, stem: str, probabilities: np.ndarray) -> np.ndarray:
        return probabilities

    def repair(self, stem: str, labels: np.ndarray) -> np.ndarray:
        path = self.folder / f"{stem}.png"
        if not path.is_file():
            return labels
        drawn = read_mask(path, self.num_classes, self.ignore_index, expected_hw=labels.shape)
        return np.where(drawn != self.ignore_index, drawn, labels).astype(labels.dtype)

    def describe(self) -> dict:
        return {"constraint": "drawn labels", "drawn_labels": str(self.folder)}
