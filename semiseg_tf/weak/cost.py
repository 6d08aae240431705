"""Annotation-time model: seconds a person needs per image for each label kind, from published timings.

Every kind starts with the image-level pass (is class c present? one question per class of the
vocabulary, Bearman et al.'s protocol) and adds per-item work that depends on what the image holds:

    tag       n_classes x 1 s
    point     tag + 2.4 s per point                                         (Bearman et al., ECCV 2016)
    scribble  tag + 5.3 s per scribbled region: Bearman et al.'s squiggle time above the image-level
              pass, (34.9 - 20.0) s per VOC image, spread over ~2.8 objects per VOC image (our reading)
    box       tag + 7 s per box, extreme clicking (Papadopoulos et al., ICCV 2017; 35 s when drawn)
    full      tag + 79 s per region outlined (the per-object outline time Bearman et al. quote; with
              VOC's 20-class pass and ~2.8 objects this gives their 239.7 s per image)
    coarse    full x 7 / 90: Cityscapes' coarse (<= 7 min) vs fine (~90 min) per image (Cordts et al., CVPR 2016)

A region is a connected component of one class (stuff classes too) of at least `min_area` pixels.
`TIME_MODEL` lists each constant with its source and whether its figure was checked against a copy of
the paper or an abstract (`verified`), so a report can say which numbers are firm.
"""

from __future__ import annotations

SOURCES = {
    "bearman2016": "A. Bearman, O. Russakovsky, V. Ferrari, L. Fei-Fei. What's the Point: Semantic Segmentation "
                   "with Point Supervision. ECCV 2016.",
    "papadopoulos2017": "D. P. Papadopoulos, J. R. R. Uijlings, F. Keller, V. Ferrari. Extreme clicking for "
                        "efficient object annotation. ICCV 2017.",
    "cordts2016": "M. Cordts et al. The Cityscapes Dataset for Semantic Urban Scene Understanding. CVPR 2016.",
}

TIME_MODEL = {
    "class_question_s": {"seconds": 1.0, "per": "class of the vocabulary", "source": "bearman2016",
                         "verified": False, "note": "image-level labels, 20 s per 20-class VOC image"},
    "point_s": {"seconds": 2.4, "per": "point clicked", "source": "bearman2016", "verified": False,
                "note": "22.1 s per VOC image with one point per class (22.1 s verified in a summary)"},
    "scribble_s": {"seconds": round((34.9 - 20.0) / 2.8, 2), "per": "region scribbled", "source": "bearman2016",
                   "verified": False, "note": "squiggles 34.9 s per VOC image minus the 20 s image-level pass, "
                                              "over ~2.8 objects per image (derived here)"},
    "box_s": {"seconds": 7.0, "per": "box (extreme clicking)", "source": "papadopoulos2017", "verified": True,
              "note": "abstract: 7 s per box, 5x faster than drawing (35 s per box, Su et al. 2012)"},
    "outline_s": {"seconds": 79.0, "per": "region outlined", "source": "bearman2016", "verified": True,
                  "note": "introduction: an accurate object outline takes 54-79 s; full supervision 239.7 s "
                          "per VOC image"},
    "coarse_share": {"seconds": round(7 / 90, 4), "per": "share of the full-mask time", "source": "cordts2016",
                     "verified": True, "note": "coarse <= 7 min vs fine ~90 min per Cityscapes image "
                                               "(checked in papers quoting Cordts et al.)"},
}


def _seconds(name: str) -> float:
    return TIME_MODEL[name]["seconds"]


def full_mask_seconds(num_classes: int, regions: int) -> float:
    """A dense mask: the image-level pass plus an outline per region."""
    return num_classes * _seconds("class_question_s") + regions * _seconds("outline_s")


def image_seconds(kind: str, *, num_classes: int, regions: int, scribbles: int = 0, points: int = 0,
                  boxes: int = 0) -> float:
    """Seconds to annotate one image with `kind`, given what it holds and what was drawn."""
    tag = num_classes * _seconds("class_question_s")
    if kind == "tag":
        return tag
    if kind == "point":
        return tag + points * _seconds("point_s")
    if kind == "scribble":
        return tag + scribbles * _seconds("scribble_s")
    if kind == "box":
        return tag + boxes * _seconds("box_s")
    if kind == "coarse":
        return full_mask_seconds(num_classes, regions) * _seconds("coarse_share")
    if kind == "full":
        return full_mask_seconds(num_classes, regions)
    raise ValueError(f"unknown annotation kind '{kind}'; valid: tag, point, scribble, box, coarse, full")
