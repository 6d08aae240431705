"""`weaken`: derive one weak label kind for every image of a split and write it with its annotation time.

    OUT/masks/<stem>.png   sparse label maps (scribble, point, coarse): class ids, 255 = unlabeled
    OUT/points.csv         point:  stem,x,y,class
    OUT/boxes.csv          box:    stem,class,x0,y0,x1,y1 (x1/y1 inclusive)
    OUT/tags.csv           tag:    stem,tags (class;class)
    OUT/classes.json       the dataset's classes
    OUT/annotation.json    kind, data, split, seed, options, per-image seconds and total hours for the kind
                           and for full masks of the same images, the time model and its sources

Each image draws from its own generator seeded by (seed, crc32(stem)): the same seed gives byte-identical
files whatever the order or subset of images.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from semiseg_tf.data.annotations import rasterize_points, write_boxes_csv, write_points_csv, write_tags_csv
from semiseg_tf.data.dataset import SegmentationDataset
from semiseg_tf.data.errors import DataError
from semiseg_tf.data.imageio import read_mask, write_png
from semiseg_tf.data.synthetic import resolve_data
from semiseg_tf.weak import cost, simulate

KINDS = ("scribble", "point", "coarse", "box", "tag")
# which options each kind uses (min_area: regions below it are skipped or dropped)
KIND_OPTIONS = {
    "scribble": ("width", "length_share", "region_share", "min_area"),
    "point": ("points", "per", "radius", "min_area"),
    "coarse": ("band", "core_share", "min_area"),
    "box": ("jitter", "min_area"),
    "tag": ("min_pixels",),
}

CSV_FILES = {"point": ("points.csv", write_points_csv), "box": ("boxes.csv", write_boxes_csv),
             "tag": ("tags.csv", write_tags_csv)}


@dataclass(frozen=True)
class WeakenOptions:
    """Options of every kind; `for_kind` keeps those a kind uses.

    radius 1 (a 5-pixel plus) rather than single pixels: a click is not pixel-exact, and a single pixel
    survives a 2/3 nearest-neighbour downscale (CamVid 360x480 -> 240x320) only when both its row and its
    column are kept (4 in 9), a 5-pixel plus in 8 of 9 cases.
    """

    width: int = 3
    length_share: float = 0.5
    region_share: float = 1.0
    min_area: int | None = None
    points: int = 1
    per: str = "region"
    radius: float = 1.0
    band: int = 8
    core_share: float = 0.5
    jitter: float = 0.0
    min_pixels: int = 1

    def validate(self) -> None:
        checks = [("width", self.width >= 1, ">= 1"), ("length_share", 0 < self.length_share <= 1, "in (0, 1]"),
                  ("region_share", 0 < self.region_share <= 1, "in (0, 1]"),
                  ("min_area", self.min_area is None or self.min_area >= 1, ">= 1 pixel"),
                  ("points", self.points >= 1, ">= 1"), ("per", self.per in ("region", "class"), "region or class"),
                  ("radius", self.radius >= 0, ">= 0"), ("band", self.band >= 0, ">= 0"),
                  ("core_share", 0 <= self.core_share < 1, "in [0, 1)"),
                  ("jitter", 0 <= self.jitter < 1, "in [0, 1)"), ("min_pixels", self.min_pixels >= 1, ">= 1")]
        for name, ok, valid in checks:
            if not ok:
                raise ValueError(f"{name}={getattr(self, name)!r} is not valid; expected {valid}")

    def for_kind(self, kind: str) -> dict:
        return {name: value for name, value in asdict(self).items() if name in KIND_OPTIONS[kind]}


def _prepare_out(out: Path) -> None:
    """A new or empty folder, or one written by an earlier `weaken` (its files are replaced)."""
    if out.exists() and any(out.iterdir()):
        if not (out / "annotation.json").is_file():
            raise DataError(out, "exists, is not empty and was not written by `weaken`.",
                            "pass a new or empty --out folder.")
        for stale in [*(out / "masks").glob("*.png"), *(out / name for name, _ in CSV_FILES.values())]:
            stale.unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)


def weaken(data: str | Path, kind: str, out: str | Path, split: str = "train", seed: int = 0,
           options: WeakenOptions | None = None) -> dict:
    """Derive `kind` labels from the full masks of `split` of the dataset at `data` (a folder or
    `builtin:shapes`, recorded as typed); write them to `out`. Returns what `annotation.json` holds.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown kind '{kind}'; valid: {', '.join(KINDS)}")
    options = options or WeakenOptions()
    options.validate()
    dataset = SegmentationDataset(resolve_data(data))
    classes = dataset.classes
    samples = dataset.samples(split)
    out = Path(out)
    _prepare_out(out)
    seconds, full_seconds, written = {}, {}, {}
    totals = {"regions": 0, "scribbles": 0, "points": 0, "boxes": 0, "labeled_pixels": 0, "pixels": 0}
    for sample in samples:
        mask = read_mask(sample.mask, classes.num_classes, classes.ignore_index)
        rng = np.random.default_rng([seed, zlib.crc32(sample.stem.encode())])
        regions = simulate.find_regions(mask, classes.num_classes, options.min_area)
        counts = {"regions": len(regions)}
        label_map = None
        if kind == "scribble":
            chosen = simulate.choose_regions(regions, options.region_share, rng)
            label_map = simulate.scribble_labels(mask, chosen, rng, width=options.width,
                                                 length_share=options.length_share, ignore_index=classes.ignore_index)
            counts["scribbles"] = len(chosen)
        elif kind == "point":
            clicks = simulate.point_annotations(mask, regions, rng, points=options.points, per=options.per,
                                                margin=options.radius + 2)
            label_map = rasterize_points(clicks, mask.shape, options.radius, classes.ignore_index, clip_to=mask)
            written[sample.stem], counts["points"] = clicks, len(clicks)
        elif kind == "coarse":
            label_map = simulate.coarse_labels(mask, regions, band=options.band, core_share=options.core_share,
                                               ignore_index=classes.ignore_index)
        elif kind == "box":
            written[sample.stem] = simulate.box_annotations(mask, regions, rng, jitter=options.jitter)
            counts["boxes"] = len(written[sample.stem])
        else:
            written[sample.stem] = simulate.tag_set(mask, classes.num_classes, options.min_pixels)
        if label_map is not None:
            write_png(out / "masks" / f"{sample.stem}.png", label_map, classes.palette)
            totals["labeled_pixels"] += int((label_map != classes.ignore_index).sum())
            totals["pixels"] += label_map.size
        for key, value in counts.items():
            totals[key] += value
        seconds[sample.stem] = round(cost.image_seconds(kind, num_classes=classes.num_classes, **counts), 2)
        full_seconds[sample.stem] = round(cost.full_mask_seconds(classes.num_classes, len(regions)), 2)
    if kind in CSV_FILES:
        name, writer = CSV_FILES[kind]
        writer(out / name, written, classes.names)
    classes.save(out / "classes.json")
    summary = _summary(kind, data, split, seed, options, seconds, full_seconds, totals)
    (out / "annotation.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def _summary(kind, data, split, seed, options, seconds, full_seconds, totals) -> dict:
    hours, full_hours = sum(seconds.values()) / 3600, sum(full_seconds.values()) / 3600
    counts = {k: v for k, v in totals.items() if v and k not in ("labeled_pixels", "pixels")}
    if totals["pixels"]:
        counts["labeled_pixel_share"] = round(totals["labeled_pixels"] / totals["pixels"], 5)
    return {
        "kind": kind, "data": str(data), "dataset": Path(str(data)).name, "split": split, "seed": seed,
        "options": options.for_kind(kind), "images": len(seconds), "counts": counts,
        "annotation_hours": round(hours, 4), "seconds_per_image": seconds,
        "full_mask": {"annotation_hours": round(full_hours, 4), "seconds_per_image": full_seconds},
        "share_of_full_mask_time": round(hours / full_hours, 4) if full_hours else None,
        "time_model": cost.TIME_MODEL, "sources": cost.SOURCES,
    }
