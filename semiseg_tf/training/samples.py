"""Which images a run trains on, and with which labels: full masks, weak labels by kind, pseudo-labels, none."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from semiseg_tf.data import (DataError, Sample, SegmentationDataset, hold_out, read_image, read_mask,
                             select_labeled, unlabeled_samples, write_png)
from semiseg_tf.losses import median_frequency_weights


def class_weights(dataset: SegmentationDataset, samples, scheme: str) -> list[float] | None:
    """Class weights for the loss, computed from the labeled masks only."""
    if scheme == "none":
        return None
    powers = {"median-frequency": 1.0, "sqrt-median-frequency": 0.5}
    if scheme not in powers:
        raise ValueError(f"unknown class weighting '{scheme}'; valid: {sorted(powers) + ['none']}")
    n = dataset.classes.num_classes
    counts, present = np.zeros(n), np.zeros(n)
    for sample in (s for s in samples if s.mask is not None):
        mask = read_mask(sample.mask, n, dataset.classes.ignore_index)
        hist = np.bincount(mask[mask != dataset.classes.ignore_index].ravel(), minlength=n)[:n]
        counts += hist
        present += (hist > 0) * hist.sum()
    return median_frequency_weights(counts, present, powers[scheme]).round(4).tolist()


def extra_labeled_samples(dataset: SegmentationDataset, folder: str | Path, stems: list[str]) -> list[Sample]:
    """Images of `stems` that have a (pseudo-)mask `<stem>.png` in `folder` (data distillation)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(folder, "extra-labels folder not found.", "run `semiseg-tf pseudo-label` first.")
    have = {p.stem for p in folder.glob("*.png")}
    samples = [Sample(s.stem, s.image, folder / f"{s.stem}.png")
               for s in dataset.samples(stems=[t for t in stems if t in have], labeled=False)]
    if not samples:
        raise DataError(folder, "holds no masks named like the unlabeled train images.",
                        "point --extra-labels at the output of `semiseg-tf pseudo-label`.")
    return samples


def unlabeled_pool(dataset: SegmentationDataset, stems: list[str], folder: str | None) -> list[Sample]:
    """The train images without masks, plus any `--unlabeled` folder."""
    pool = dataset.samples(stems=stems, labeled=False)
    if folder:
        pool += unlabeled_samples(folder)
    if not pool:
        raise DataError(dataset.root, "this method needs unlabeled images but there are none.",
                        "use --labeled-fraction < 1 or pass --unlabeled DIR.")
    return pool


PARTIAL_KINDS = ("scribble", "point", "coarse")  # sparse label maps: <folder>/masks/<stem>.png, 255 = unlabeled
ANNOTATION_KINDS = (*PARTIAL_KINDS, "box", "tag")
RAW_FILES = {"point": ("points.csv", "points.json"), "box": ("boxes.csv", "boxes.json"), "tag": ("tags.csv", "tags.json")}


def rasterized_label_maps(dataset: SegmentationDataset, kind: str, source: Path, out: Path,
                          refine_boxes: str | None = None) -> Path:
    """Label maps in `out` from clicks (discs of radius 1, as `semiseg-tf weaken --kind point` draws them)
    or boxes (`box_label_map`: the pixels under boxes of one class; with `refine_boxes="grabcut"`, after
    GrabCut on the image), once: a resumed run reuses them."""
    from semiseg_tf.data.annotations import rasterize_points, read_boxes, read_points
    from semiseg_tf.weak.box_labels import box_label_map

    out.mkdir(parents=True, exist_ok=True)
    annotations = read_points(source, dataset) if kind == "point" else read_boxes(source, dataset)
    for stem, items in annotations.items():
        path = out / f"{stem}.png"
        if not path.is_file():
            sample = dataset.samples(stems=[stem], labeled=False)[0]
            size = dataset.image_size(sample)
            labels = (rasterize_points(items, size, radius=1) if kind == "point" else
                      box_label_map(items, size, dataset.classes.num_classes,
                                    ignore_index=dataset.classes.ignore_index,
                                    image=read_image(sample.image) if refine_boxes else None))
            write_png(path, labels, dataset.classes.palette)
    return out


def label_map_folder(dataset: SegmentationDataset, kind: str, folder: Path, cache: Path,
                     refine_boxes: str | None = None) -> Path | None:
    """Where the label maps of a weak-annotation folder are: its masks/ (or <stem>.png files directly, as
    `semiseg-tf pseudo-label` writes them); for clicks or boxes given only as a file, their rasterisation
    under `cache` (boxes refined by `refine_boxes`); None for tags given only as a file (they are
    image-level, not label maps)."""
    masks = folder / "masks"
    if masks.is_dir():
        return masks
    if folder.is_dir() and next(folder.glob("*.png"), None) is not None:
        return folder
    raw = next((folder / name for name in RAW_FILES.get(kind, ()) if (folder / name).is_file()), None)
    if raw is None:
        return masks
    if kind == "tag":
        return None
    refine = refine_boxes if kind == "box" else None
    out = cache / (f"{kind}-{refine}" if refine else kind) / "masks"
    return rasterized_label_maps(dataset, kind, raw, out, refine)


def folder_boxes(dataset: SegmentationDataset, folder: Path) -> dict:
    """{stem: [Box, ...]} from `folder`'s boxes.csv / boxes.json, or {} when it holds label maps only (a
    next round's pseudo-labels): methods that train on boxes themselves then refuse the run."""
    from semiseg_tf.data.annotations import read_boxes

    raw = next((folder / name for name in RAW_FILES["box"] if (folder / name).is_file()), None)
    return read_boxes(raw, dataset) if raw else {}


def tagged_samples(dataset: SegmentationDataset, folder: Path, stems: list[str]) -> dict[str, Sample]:
    """{stem: sample with image tags} for the `stems` that `folder`'s tags.csv / tags.json lists."""
    from semiseg_tf.data.annotations import read_tags

    path = next(folder / name for name in RAW_FILES["tag"] if (folder / name).is_file())
    tags = read_tags(path, dataset)
    return {s.stem: Sample(s.stem, s.image, kind="tag", tags=tags[s.stem])
            for s in dataset.samples(stems=[stem for stem in stems if stem in tags], labeled=False)}


def weak_samples(dataset: SegmentationDataset, annotations: dict[str, str], stems: list[str],
                 cache: Path, superpixel_scale: float | None = None, refine_boxes: str | None = None
                 ) -> dict[str, Sample]:
    """{stem: sample} of the `stems` that a weak-annotation folder labels (`semiseg-tf weaken`'s output, or the
    user's own label maps, clicks, boxes or tags); the first folder that has a stem wins. Label maps train with
    the masked cross-entropy (255 ignored) plus the method's edge-aware term; tags with a tag method. With
    `superpixel_scale`, scribbles, points and coarse masks first grow to the superpixels they touch; with
    `refine_boxes`, boxes given as a file are rasterised after that refinement."""
    from semiseg_tf.weak.superpixels import grown_label_maps

    chosen: dict[str, Sample] = {}
    for kind, folder in annotations.items():
        masks = label_map_folder(dataset, kind, Path(folder), cache, refine_boxes)
        if superpixel_scale and kind in PARTIAL_KINDS and masks is not None and masks.is_dir():
            masks = grown_label_maps(dataset, masks, stems, cache / f"{kind}-superpixels{superpixel_scale:g}",
                                     superpixel_scale)
        if masks is None:
            found = tagged_samples(dataset, Path(folder), stems)
        else:
            have = {p.stem for p in masks.glob("*.png")} if masks.is_dir() else set()
            boxes = folder_boxes(dataset, Path(folder)) if kind == "box" else {}
            found = {s.stem: Sample(s.stem, s.image, masks / f"{s.stem}.png", kind=kind,
                                    boxes=tuple(boxes.get(s.stem, ())) if boxes else None)
                     for s in dataset.samples(stems=[stem for stem in stems if stem in have], labeled=False)}
        if not found:
            raw = " or ".join(RAW_FILES.get(kind, ()))
            raise DataError(Path(folder), f"holds no {kind} annotation of a training image.",
                            f"run `semiseg-tf weaken --kind {kind} --out {folder}` or put <stem>.png label maps "
                            f"(class ids, 255 = unlabeled) in its masks/" + (f" or {raw} there" if raw else "") + ".")
        chosen.update({stem: sample for stem, sample in found.items() if stem not in chosen})
    return chosen


@dataclass
class RunSamples:
    """What a run trains on: stems with full masks, weak labels by stem, stems without labels, and the samples
    (labeled: full + weak; extra: pseudo-labeled; pool: unlabeled images a semi-supervised method draws)."""

    labeled: list[str]
    weak: dict[str, Sample]
    unlabeled: list[str]
    labeled_samples: list[Sample]
    extra: list[Sample]
    pool: list[Sample]


def choose_samples(config, dataset: SegmentationDataset, run_dir: Path) -> RunSamples:
    """The train split, less a held-out share (`val_fraction`, written to run_dir/heldout.txt), divided into
    full masks (`labeled_fraction`/`labeled_list`; none when only weak labels are given), weak labels
    (`annotations`), pseudo-labels (`extra_labels`) and the unlabeled pool of semi-supervised methods."""
    from semiseg_tf.methods import get_method
    from semiseg_tf.training.validation import HELD_OUT

    stems = dataset.stems(config.train_split)
    if config.val_fraction is not None:
        stems, held_out = hold_out(stems, config.val_fraction, config.seed)
        (run_dir / HELD_OUT).write_text("\n".join(held_out) + "\n")
    if config.annotations and config.labeled_fraction is None and config.labeled_list is None:
        labeled, unlabeled = [], list(stems)  # weak labels only
    else:
        labeled, unlabeled = select_labeled(stems, config.labeled_fraction, config.labeled_list, config.seed)
    weak = weak_samples(dataset, config.annotations, unlabeled, cache=run_dir / "annotations",
                        superpixel_scale=config.superpixel_scale, refine_boxes=config.refine_boxes)
    unlabeled = [stem for stem in unlabeled if stem not in weak]
    extra = extra_labeled_samples(dataset, config.extra_labels, unlabeled) if config.extra_labels else []
    pool = unlabeled_pool(dataset, unlabeled, config.unlabeled) if get_method(config.method).uses_unlabeled else []
    full = dataset.samples(stems=labeled)
    if get_method(config.method).consumes == "boxes":  # full masks train beside boxes, with no box term
        full = [dataclasses.replace(sample, boxes=()) for sample in full]
    return RunSamples(labeled, weak, unlabeled, full + list(weak.values()), extra, pool)
